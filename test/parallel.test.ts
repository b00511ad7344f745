/**
 * run() gives the same bytes whatever the number of worker threads: the diff
 * and the JSON report of every site, with 1 and 2 workers (and in-thread).
 *
 * The workers run the compiled dist/src/worker.js (worker threads load plain
 * JavaScript); `npm test` builds first. Under a bare `npx vitest run` with a
 * stale dist/, the in-thread run (TypeScript sources) may differ from the
 * workers: rebuild.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Pool } from '../src/pool.js';
import { run, workerScript, type RunResult } from '../src/index.js';
import { fileDiff } from '../src/output/diff.js';
import { jsonReport, reportable } from '../src/output/report.js';
import { FIXTURES } from './helpers.js';

function bytes(r: RunResult): { diff: string; json: string; problems: string } {
  return {
    diff: r.changed.map((c) => fileDiff(c.path, c.before, c.after)).join(''),
    json: jsonReport(reportable(r.sites, true)),
    problems: JSON.stringify(r.problems),
  };
}

const TREES = ['sample-tree', 'retry-loop'];

describe('run() output does not depend on -j', () => {
  it('has a compiled worker to run (npm run build)', () => {
    expect(workerScript(), 'dist/src/worker.js is missing: run `npm run build`').not.toBeNull();
  });

  for (const tree of TREES) {
    it(`${tree}: jobs 1, jobs 2 and in-thread give the same diff and JSON`, async () => {
      const cwd = path.join(FIXTURES, tree);
      const one = await run({ paths: ['.'], cwd, jobs: 1 });
      const two = await run({ paths: ['.'], cwd, jobs: 2 });
      const none = await run({ paths: ['.'], cwd, jobs: 0 });
      expect(one.candidates).toBeGreaterThan(0);
      expect(one.sites.length).toBeGreaterThan(0);
      const b1 = bytes(one);
      expect(bytes(two)).toEqual(b1);
      expect(bytes(none), 'in-thread differs from the workers: is dist/ stale? run `npm run build`').toEqual(b1);
      expect([two.scanned, two.candidates]).toEqual([one.scanned, one.candidates]);
    });
  }

  it('sample-tree: the same with every file a candidate (--no-prefilter)', async () => {
    const cwd = path.join(FIXTURES, 'sample-tree');
    const one = await run({ paths: ['.'], cwd, jobs: 1, noPrefilter: true });
    const two = await run({ paths: ['.'], cwd, jobs: 2, noPrefilter: true });
    expect(one.candidates).toBe(one.scanned);
    expect(bytes(two)).toEqual(bytes(one));
  });

  it('a tree larger than one walk batch: files handed out while the walk goes on give the same bytes, in path order', async () => {
    // Thousands of files in nested directories (the walk hands them to the
    // workers in batches), the fixtures of retry-loop copied in at depths
    // that sort differently by path than by walk order ("a.c" < "a/").
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gupmod-par-'));
    try {
      const src = path.join(FIXTURES, 'retry-loop');
      const inputs = fs.readdirSync(src).filter((f) => f.endsWith('.c') && !f.endsWith('.expected.c'));
      for (let d = 0; d < 12; d++) {
        const dir = path.join(root, `d${d % 3}`, d % 2 ? 'a' : 'a-b');
        fs.mkdirSync(dir, { recursive: true });
        for (let i = 0; i < 400; i++) fs.writeFileSync(path.join(dir, `f${d}_${i}.c`), `int f${d}_${i};\n`);
        fs.copyFileSync(path.join(src, inputs[d % inputs.length]!), path.join(dir, `${d}.c`));
        fs.copyFileSync(path.join(src, inputs[(d + 5) % inputs.length]!), path.join(root, `d${d % 3}`, `a.c`));
      }
      const auto = await run({ paths: ['.'], cwd: root });
      const two = await run({ paths: ['.'], cwd: root, jobs: 2 });
      const none = await run({ paths: ['.'], cwd: root, jobs: 0 });
      expect(none.scanned).toBe(12 * 401 + 3);
      expect(none.changed.length).toBeGreaterThan(3);
      const b = bytes(none);
      expect(bytes(two)).toEqual(b);
      expect(bytes(auto)).toEqual(b);
      expect([two.scanned, two.candidates, auto.scanned]).toEqual([none.scanned, none.candidates, none.scanned]);
      const paths = none.changed.map((c) => c.path);
      expect(paths).toEqual([...paths].sort());
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('rejects a --jobs that is not a whole number', async () => {
    await expect(run({ paths: ['.'], cwd: path.join(FIXTURES, 'sample-tree'), jobs: 1.5 })).rejects.toThrow(/--jobs/);
  });
});

describe('Pool', () => {
  it('a worker that fails while chunks are still being added: the run rejects once, later adds go nowhere', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gupmod-pool-'));
    try {
      const script = path.join(dir, 'failing-worker.mjs');
      fs.writeFileSync(script, "import { parentPort } from 'node:worker_threads';\nparentPort.on('message', () => parentPort.postMessage({ error: 'Error: boom\\n    at the test' }));\n");
      const pool = new Pool(pathToFileURL(script), { cwd: dir, transforms: [], triggers: null }, 2);
      const seen: unknown[] = [];
      const finished = pool.start((r) => seen.push(r));
      finished.catch(() => undefined);
      pool.add([[{ id: 0, abs: '/nonexistent.c' }]]);
      await expect(finished).rejects.toThrow('boom');
      expect(pool.failed).toBe(true);
      pool.add([[{ id: 1, abs: '/nonexistent2.c' }]]);
      pool.end();
      expect(seen).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
