/**
 * Rewrite fixtures run against a stand-in GUP runtime
 * (fixtures/runtime/gup_runtime.c): each `<case>.c` (before) and
 * `<case>.expected.c` (after) is built with the runtime, without and with
 * `-fsanitize=address,undefined`, and run under a set of GUP schedules.
 *
 * After the rewrite, every run must be clean: on failure no page held and no
 * allocation live, on success every requested page taken exactly once and
 * released by the fixture or held once each, no misuse the runtime catches,
 * no sanitizer report.  Before the rewrite the same is recorded: a leak in
 * the original is reported, not failed (a sanitizer report or crash still
 * fails).  And where the original is clean and its last GUP call was not
 * short, the rewrite must return what the original returned.
 *
 * Fixtures are found by walking fixtures/<folder>/ for `.expected.c` files;
 * each pair declares its entry point with `gupmod-*:` markers in a comment
 * (fixtures/README.md, "Runtime entry points").
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// GUPMOD_RUNTIME_FIXTURES points the test at another fixtures tree (to check
// the harness itself on deliberately broken pairs); header and runtime stay.
const FIXTURES = process.env.GUPMOD_RUNTIME_FIXTURES ?? path.join(ROOT, 'fixtures');
const INCLUDE = path.join(ROOT, 'fixtures', 'include');
const RUNTIME = path.join(ROOT, 'fixtures', 'runtime');
const RUNTIME_C = path.join(RUNTIME, 'gup_runtime.c');

/** Schedule steps and modifiers: see the comment at the top of gup_runtime.c. */
const SCHEDULES: { name: string; spec: string }[] = [
  { name: 'full', spec: '' },
  { name: 'short-then-full', spec: 's3' },
  { name: 'short-then-error', spec: 's3,e5' },
  { name: 'immediate-error', spec: 'e14' },
  { name: 'immediate-eintr', spec: 'e4' },
  { name: 'many-short', spec: 'p1*' },
  { name: 'many-short-then-error', spec: 'p1,p1,p1,e14' },
  { name: 'growing-short', spec: 'p1,p2,p3' },
  // Every call from then on returns 0: an original loop that handles a 0
  // return stops; one that does not spins, which is recorded (livelock, not
  // a failure) and leaves nothing to compare, while the rewrite is still
  // checked (FOLL_COMPLETE turns a call that makes no progress into
  // -EFAULT).
  { name: 'zero', spec: 'z*' },
  { name: 'short-then-zero', spec: 's3,z*' },
  { name: 'late-failure', spec: 'late' },
  { name: 'short-then-late-failure', spec: 's3,late' },
  { name: 'no-memory', spec: 'nomem1' },
];

const SANITIZE = ['-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fno-omit-frame-pointer'];
const CFLAGS = [
  '-std=gnu11', '-O1', '-g', '-Wall', '-Wno-unused-function',
  '-Werror=implicit-function-declaration', '-Werror=incompatible-pointer-types', '-Werror=int-conversion',
  '-I', INCLUDE, '-I', RUNTIME,
];
const RUN_ENV = {
  ...process.env,
  ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:allocator_may_return_null=0',
  UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
};
const FOLL_COMPLETE = 0x400000;
const MARKER_KEYS = ['entry', 'setup', 'stub', 'ok', 'failed', 'release'] as const;
type MarkerKey = (typeof MARKER_KEYS)[number];

interface Markers {
  entry: string[];
  setup: string[];
  stub: string[];
  ok: string[];
  failed: string[];
  release: string[];
}

interface Case {
  id: string; // <folder>/<case>
  before: string;
  after: string;
}

type Version = 'before' | 'after';

interface Run {
  version: Version;
  sanitize: boolean;
  schedule: string;
  ret?: number;
  outcome?: 'ok' | 'fail';
  lastShort?: boolean;
  releasedBy?: string;
  firstCall?: { fn: string; flags: number; start: number; nr: number };
  leaks: string[];
  violations: string[];
  abort?: string;
  livelock?: string;
  fatal?: string; // sanitizer report, crash, no result line
}

interface CaseResult {
  setupError?: string;
  compileErrors: string[];
  runs: Run[];
}

function discover(): Case[] {
  const cases: Case[] = [];
  for (const dir of readdirSync(FIXTURES).sort()) {
    const full = path.join(FIXTURES, dir);
    if (!statSync(full).isDirectory()) continue;
    for (const f of readdirSync(full).sort()) {
      if (!f.endsWith('.expected.c')) continue;
      const name = f.slice(0, -'.expected.c'.length);
      cases.push({ id: `${dir}/${name}`, before: path.join(full, `${name}.c`), after: path.join(full, f) });
    }
  }
  return cases;
}

/** The `gupmod-<key>: text` sections of every comment in the file. */
function parseMarkers(src: string): Markers {
  const m: Markers = { entry: [], setup: [], stub: [], ok: [], failed: [], release: [] };
  for (const comment of src.matchAll(/\/\*([\s\S]*?)\*\//g)) {
    let key: MarkerKey | null = null;
    let text: string[] = [];
    const flush = () => {
      if (key) m[key].push(text.join('\n').trim());
      key = null;
      text = [];
    };
    for (const raw of comment[1].split('\n')) {
      const line = raw.replace(/^\s*\*(?!\/) ?/, '');
      const k = /^\s*gupmod-([a-z-]+):(.*)$/.exec(line);
      if (k) {
        flush();
        if (!(MARKER_KEYS as readonly string[]).includes(k[1])) throw new Error(`unknown marker gupmod-${k[1]}:`);
        key = k[1] as MarkerKey;
        text.push(k[2]);
      } else if (key) {
        if (line.trim() === '') flush();
        else text.push(line);
      }
    }
    flush();
  }
  return m;
}

function cString(s: string): string {
  return JSON.stringify(s.replace(/\s+/g, ' '));
}

function driverSource(fixture: string, m: Markers): string {
  const usesPages = /\bPAGES\b/.test([...m.setup, ...m.entry, ...m.ok, ...m.failed, ...m.release].join('\n'));
  const check = (e: string, key: string) =>
    `\t\tif (!(${e}))\n\t\t\trt_violation("gupmod-${key} failed: %s", ${cString(e)});`;
  return [
    `/* Generated by test/runtime.test.ts for ${path.relative(ROOT, fixture)} */`,
    `#include "${fixture}"`,
    '#include "gup_runtime.h"',
    '',
    ...m.stub.map((s) => `${s}\n`),
    'long rt_entry(void)',
    '{',
    ...m.setup.map((s) => `\t${s}`),
    '\tlong rt_ret;',
    '',
    `\trt_pages_used = ${usesPages ? 1 : 0};`,
    `\trt_has_release = ${m.release.length ? 1 : 0};`,
    `\trt_ret = (long)(${m.entry[0]});`,
    '\tif (rt_ret >= 0) {',
    ...m.ok.map((e) => check(e, 'ok')),
    ...m.release.map((r) => `\t\t${r};`),
    '\t} else {',
    ...m.failed.map((e) => check(e, 'failed')),
    '\t}',
    '\treturn rt_ret;',
    '}',
    '',
  ].join('\n');
}

function exec(
  file: string,
  args: string[],
  opts: { timeout?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', maxBuffer: 16 << 20, ...opts }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; signal?: string | null }) | null;
      resolve({
        code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
        signal: e?.signal ?? null,
        stdout,
        stderr: e && typeof e.code === 'string' ? `${stderr}${e.message}` : stderr,
      });
    });
  });
}

async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

function parseRun(version: Version, sanitize: boolean, schedule: string, r: Awaited<ReturnType<typeof exec>>): Run {
  const run: Run = { version, sanitize, schedule, leaks: [], violations: [] };
  for (const line of r.stdout.split('\n')) {
    const m = /^(leak|violation|abort|livelock|result): (.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === 'leak') run.leaks.push(m[2]);
    else if (m[1] === 'violation') run.violations.push(m[2]);
    else if (m[1] === 'abort') run.abort = m[2];
    else if (m[1] === 'livelock') run.livelock = m[2];
    else {
      const kv = Object.fromEntries(m[2].split(' ').map((p) => p.split('=')));
      run.ret = Number(kv.ret);
      run.outcome = kv.outcome as 'ok' | 'fail';
      run.lastShort = kv.last_short === '1';
      run.releasedBy = kv.released_by;
      const [fn, flags, start, nr] = (kv.first ?? 'none').split('/');
      if (fn !== 'none') run.firstCall = { fn, flags: Number(flags), start: Number(start), nr: Number(nr) };
    }
  }
  const report = /(ERROR: \w+Sanitizer.*|runtime error: .*)/.exec(r.stderr);
  if (report) run.fatal = `sanitizer: ${report[1]}`;
  else if (run.abort && r.signal === 'SIGABRT') {
    // the runtime's own abort
  } else if (r.signal || r.code !== 0) run.fatal = `exit ${r.code ?? r.signal}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`;
  else if (!run.livelock && run.outcome === undefined) run.fatal = 'no result line';
  return run;
}

/** Problems of a run, each a short line; a leak is reported separately. */
function problems(run: Run): string[] {
  const out = [...run.violations];
  if (run.abort) out.push(`abort: ${run.abort}`);
  if (run.livelock) out.push(`livelock: ${run.livelock}`);
  if (run.fatal) out.push(run.fatal);
  return out;
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

function label(run: Run): string {
  return `${run.version}${run.sanitize ? ' [asan,ubsan]' : ''} ${run.schedule}`;
}

const CASES = discover();
const RESULTS = new Map<string, CaseResult>();
const stats = { binaries: 0, runs: 0 };
let work: string | undefined;

describe('fixtures run against the stand-in GUP runtime (fixtures/runtime)', () => {
  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'gupmod-runtime-'));
    const jobs: { c: Case; version: Version; sanitize: boolean; src: string; vmas: boolean }[] = [];
    for (const c of CASES) {
      const res: CaseResult = { compileErrors: [], runs: [] };
      RESULTS.set(c.id, res);
      if (!existsSync(c.before)) {
        res.setupError = `${c.id}.expected.c has no input ${c.id}.c`;
        continue;
      }
      const text = { before: readFileSync(c.before, 'latin1'), after: readFileSync(c.after, 'latin1') };
      let mb: Markers, ma: Markers;
      try {
        mb = parseMarkers(text.before);
        ma = parseMarkers(text.after);
      } catch (e) {
        res.setupError = `fixtures/${c.id}: ${(e as Error).message}`;
        continue;
      }
      if (mb.entry.length !== 1) {
        res.setupError =
          `fixtures/${c.id}.c has ${mb.entry.length ? 'more than one' : 'no'} "gupmod-entry:" marker: ` +
          'every rewrite fixture declares one entry point for test/runtime.test.ts ' +
          '(see fixtures/README.md, "Runtime entry points")';
        continue;
      }
      if (JSON.stringify(mb) !== JSON.stringify(ma)) {
        res.setupError = `fixtures/${c.id}: the gupmod-* markers of .c and .expected.c differ`;
        continue;
      }
      const vmasRe = /^\s*#\s*define\s+GUP_HAS_VMAS\b/m;
      const vmas = vmasRe.test(text.before);
      if (vmas !== vmasRe.test(text.after)) {
        res.setupError = `fixtures/${c.id}: .c and .expected.c define GUP_HAS_VMAS differently`;
        continue;
      }
      for (const version of ['before', 'after'] as const) {
        const src = path.join(work, `${c.id.replace('/', '__')}.${version}.c`);
        writeFileSync(src, driverSource(version === 'before' ? c.before : c.after, mb));
        for (const sanitize of [false, true]) jobs.push({ c, version, sanitize, src, vmas });
      }
    }

    // The runtime, once per generation and sanitizer setting.
    const objects = new Map<string, string>();
    const runtimeErrors: string[] = [];
    await pool(
      [false, true].flatMap((vmas) => [false, true].map((sanitize) => ({ vmas, sanitize }))),
      2,
      async ({ vmas, sanitize }) => {
        const obj = path.join(work!, `gup_runtime${vmas ? '-vmas' : ''}${sanitize ? '-san' : ''}.o`);
        const r = await exec('gcc', [
          ...CFLAGS, '-Werror', ...(sanitize ? SANITIZE : []), ...(vmas ? ['-DGUP_HAS_VMAS'] : []),
          '-c', RUNTIME_C, '-o', obj,
        ]);
        if (r.code !== 0) runtimeErrors.push(r.stderr);
        objects.set(`${vmas}/${sanitize}`, obj);
      },
    );
    if (runtimeErrors.length) throw new Error(`fixtures/runtime/gup_runtime.c does not build:\n${runtimeErrors[0]}`);

    // Each binary: compile once, then run every schedule.
    await pool(jobs, Math.max(2, Math.min(4, availableParallelism())), async (j) => {
      const res = RESULTS.get(j.c.id)!;
      const bin = j.src.replace(/\.c$/, j.sanitize ? '.san' : '');
      const cc = await exec('gcc', [
        ...CFLAGS, ...(j.sanitize ? SANITIZE : []), j.src, objects.get(`${j.vmas}/${j.sanitize}`)!, '-o', bin,
      ]);
      if (cc.code !== 0) {
        res.compileErrors.push(`${j.version}${j.sanitize ? ' [asan,ubsan]' : ''}:\n${cc.stderr}`);
        return;
      }
      // -O1 -Wall sees more than -fsyntax-only (-Wmaybe-uninitialized):
      // the rewritten code must build silently.
      if (j.version === 'after' && cc.stderr.trim())
        res.compileErrors.push(`after${j.sanitize ? ' [asan,ubsan]' : ''} (warnings):\n${cc.stderr}`);
      stats.binaries++;
      for (const s of SCHEDULES) {
        const r = await exec(bin, [s.spec], { timeout: 20_000, env: RUN_ENV });
        stats.runs++;
        res.runs.push(parseRun(j.version, j.sanitize, s.name, r));
      }
    });

    // One-line summary.
    const beforeLeaks = new Map<string, number>();
    let afterLeaks = 0;
    const spins = new Set<string>();
    for (const [id, res] of RESULTS) {
      for (const run of res.runs) {
        if (run.leaks.length && run.version === 'before') beforeLeaks.set(id, (beforeLeaks.get(id) ?? 0) + 1);
        if (run.leaks.length && run.version === 'after') afterLeaks++;
        if (run.livelock && run.version === 'before') spins.add(id);
      }
    }
    const handled = [...RESULTS].filter(([id, r]) => r.runs.length && !spins.has(id)).map(([id]) => id);
    const leakList = [...beforeLeaks].map(([id, n]) => `${id} x${n}`).join(', ');
    const built = [...RESULTS.values()].filter((r) => !r.setupError && !r.compileErrors.length).length;
    console.log(
      `runtime: ${built}/${CASES.length} fixtures compiled (${stats.binaries} binaries), ` +
        `${stats.binaries} binaries run, ${stats.runs} schedules run (${SCHEDULES.length} each); ` +
        `leaks seen before: ${[...beforeLeaks.values()].reduce((a, b) => a + b, 0)} runs` +
        `${leakList ? ` (${leakList})` : ''}, after: ${afterLeaks}; ` +
        `0 returns: ${handled.length} originals stop${handled.length ? ` (${handled.join(', ')})` : ''}, ${spins.size} spin`,
    );
  }, 300_000);

  afterAll(() => {
    // GUPMOD_RUNTIME_KEEP=1 keeps the drivers and binaries for a rerun by hand.
    if (work && !process.env.GUPMOD_RUNTIME_KEEP) rmSync(work, { recursive: true, force: true });
    else if (work) console.log(`runtime: drivers and binaries kept in ${work}`);
  });

  it('finds rewrite fixtures', () => {
    expect(CASES.length).toBeGreaterThan(0);
  });

  for (const c of CASES) {
    it(c.id, () => {
      const res = RESULTS.get(c.id)!;
      if (res.setupError) throw new Error(res.setupError);
      if (res.compileErrors.length) throw new Error(`fixtures/${c.id} does not build with the runtime:\n${res.compileErrors.join('\n')}`);
      const bad: string[] = [];
      for (const run of res.runs) {
        if (run.version === 'after') {
          for (const p of [...run.leaks, ...problems(run)]) bad.push(`${label(run)}: ${p}`);
        } else if (run.fatal) {
          bad.push(`${label(run)}: ${run.fatal}`);
        }
      }
      for (const b of res.runs.filter((r) => r.version === 'before')) {
        const a = res.runs.find((r) => r.version === 'after' && r.sanitize === b.sanitize && r.schedule === b.schedule);
        if (!a || a.ret === undefined || b.ret === undefined) continue;
        // The rewritten call is the original's first call, whole, with
        // FOLL_COMPLETE added to its flags.
        const fb = b.firstCall;
        const fa = a.firstCall;
        if (b.schedule === 'full' && fb && fa && !(fb.flags & FOLL_COMPLETE)) {
          const want = `${fb.fn}(page ${fb.start}, ${fb.nr} pages, flags ${hex(fb.flags | FOLL_COMPLETE)})`;
          const got = `${fa.fn}(page ${fa.start}, ${fa.nr} pages, flags ${hex(fa.flags)})`;
          if (want !== got) bad.push(`${label(a)}: first GUP call is ${got}, want ${want}`);
        }
        // Same result as the original where the original is clean and did
        // not stop on a short call (a count check may fail on a short count
        // that FOLL_COMPLETE now completes).
        if (b.leaks.length || problems(b).length || b.lastShort) continue;
        if (a.ret !== b.ret) bad.push(`${label(a)}: returns ${a.ret}, the original returns ${b.ret}`);
      }
      expect(bad, `fixtures/${c.id}`).toEqual([]);
      expect(res.runs.length).toBe(4 * SCHEDULES.length);
    });
  }
});
