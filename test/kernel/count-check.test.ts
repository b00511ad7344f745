/**
 * The classified inventory and the count-check rewrite on Linux 6.1: every
 * GUP call site outside mm/gup.c is listed once, the sites the issue names
 * are rewritten, nothing left alone is edited, and the whole diff applies
 * and passes checkpatch --strict.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';
import { requireKernelTree } from './tree.js';
import { parse } from '../../src/parse/index.js';
import { findGupCalls, mayCallGup } from '../../transforms/common.js';

const BIN = path.join(ROOT, 'bin', 'gupmod.js');

interface SiteJson {
  file: string;
  line: number;
  column: number;
  api: string;
  category: string;
  action: string;
  bugs: string[];
  reason: string;
}

function gupmod(args: string[], cwd: string) {
  return spawnSync(process.execPath, [BIN, '-q', ...args], { cwd, encoding: 'latin1', maxBuffer: 256 << 20 });
}

const CALL = /\b(?:get|pin)_user_pages(?:_fast|_unlocked|_remote|_fast_only|_locked)?\s*\(/g;

/** Calls counted by a plain text search, independent of the parser: comments, prototypes and macros left out. */
function grepCalls(text: string): number {
  const code = text
    .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' '))
    .replace(/\/\/[^\n]*/g, '')
    .replace(/"(?:[^"\\\n]|\\.)*"/g, '""')
    .replace(/^[ \t]*#[^\n]*(\\\n[^\n]*)*/gm, '');
  let n = 0;
  for (const m of code.matchAll(CALL)) {
    const before = code.slice(Math.max(0, m.index! - 40), m.index!);
    // A declaration or definition: a type right before the name.
    if (/\b(long|int|void|unsigned|static|extern|inline)\s*\**\s*$/.test(before)) continue;
    n++;
  }
  return n;
}

/** Old-file line numbers a diff removes or replaces, per file. */
function touchedLines(diff: string): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  let file = '';
  let line = 0;
  for (const l of diff.split('\n')) {
    const f = /^diff --git a\/(\S+) /.exec(l);
    if (f) {
      file = f[1];
      out.set(file, new Set());
      continue;
    }
    const h = /^@@ -(\d+)/.exec(l);
    if (h) {
      line = Number(h[1]);
      continue;
    }
    if (l.startsWith('---') || l.startsWith('+++')) continue;
    if (l.startsWith('-')) out.get(file)!.add(line++);
    else if (l.startsWith(' ')) line++;
  }
  return out;
}

describe('every GUP call site of Linux 6.1, classified', () => {
  let tree: string;
  let sites: SiteJson[];
  let diff: string;

  beforeAll(() => {
    tree = requireKernelTree();
    const rep = gupmod(['--report', '--all', '--format', 'json', '.'], tree);
    expect(rep.stderr).toBe('');
    expect(rep.status).toBe(0);
    sites = JSON.parse(rep.stdout);
    const d = gupmod(['.'], tree);
    expect(d.status).toBe(0);
    diff = d.stdout;
  }, 300_000);

  it('lists every call outside mm/gup.c exactly once', () => {
    const g = spawnSync('grep', ['-rlE', '\\b(get|pin)_user_pages(_fast|_unlocked|_remote|_fast_only|_locked)?\\b', '--include=*.c', '--include=*.h', '.'], {
      cwd: tree,
      encoding: 'latin1',
      maxBuffer: 64 << 20,
    });
    const files = g.stdout.split('\n').filter(Boolean).map((f) => f.replace(/^\.\//, '')).filter((f) => f !== 'mm/gup.c');
    const expected = new Map<string, number>();
    for (const f of files) {
      const n = grepCalls(readFileSync(path.join(tree, f), 'latin1'));
      if (n) expected.set(f, n);
    }
    const got = new Map<string, number>();
    for (const s of sites) got.set(s.file, (got.get(s.file) ?? 0) + 1);
    expect(Object.fromEntries([...got].sort())).toEqual(Object.fromEntries([...expected].sort()));
    const keys = sites.map((s) => `${s.file}:${s.line}:${s.column}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(sites.some((s) => s.file === 'mm/gup.c')).toBe(false);
    for (const s of sites) {
      expect(['retry-loop', 'count-check', 'chunked-loop', 'partial-ok', 'single-page', 'unknown']).toContain(s.category);
      expect(['rewrite', 'review', 'leave']).toContain(s.action);
      expect(s.reason.length).toBeGreaterThan(10);
    }
  });

  it('parses no fewer files than it must: mayCallGup never hides a call the parser finds', () => {
    const g = spawnSync('grep', ['-rlE', 'get_user_pages|pin_user_pages', '--include=*.c', '--include=*.h', '.'], {
      cwd: tree,
      encoding: 'latin1',
      maxBuffer: 64 << 20,
    });
    const files = g.stdout.split('\n').filter(Boolean);
    let spared = 0;
    for (const f of files) {
      const text = readFileSync(path.join(tree, f), 'latin1');
      if (mayCallGup(text)) continue;
      spared++;
      expect(findGupCalls(parse(f, text)).map((c) => c.call.startPosition.row + 1), f).toEqual([]);
    }
    // Linux 6.1: 122 files name a GUP function, 46 of them in no call.
    expect(files.length).toBeGreaterThan(100);
    expect(spared).toBeGreaterThan(30);
  }, 120_000);

  it('rewrites the count checks of ivtv-udma.c and sev.c', () => {
    for (const f of ['drivers/media/pci/ivtv/ivtv-udma.c', 'arch/x86/kvm/svm/sev.c']) {
      const s = sites.filter((x) => x.file === f && x.category === 'count-check');
      expect(s.map((x) => x.action)).toEqual(['rewrite']);
      expect(diff).toContain(`diff --git a/${f} b/${f}`);
    }
    expect(diff).toMatch(/^\+\tif \(err\) \{\n\+\t\tIVTV_DEBUG_WARN\("failed to map user pages, returned %d\\n", err\);$/m);
    expect(diff).toMatch(/^-\tif \(npinned > 0\)\n-\t\tunpin_user_pages\(pages, npinned\);$/m);
  });

  it('edits no site that is partial-ok, chunked-loop or single-page', () => {
    const touched = touchedLines(diff);
    const left = sites.filter((s) => ['partial-ok', 'chunked-loop', 'single-page'].includes(s.category));
    expect(left.length).toBeGreaterThan(40);
    for (const s of left) expect(touched.get(s.file)?.has(s.line) ?? false, `${s.file}:${s.line} (${s.category})`).toBe(false);
    for (const s of sites.filter((x) => x.action !== 'rewrite')) {
      expect(touched.get(s.file)?.has(s.line) ?? false, `${s.file}:${s.line} (${s.action})`).toBe(false);
    }
  });

  it('rewrites only sites it reports as rewrite, and the diff applies and passes checkpatch --strict', () => {
    const touched = touchedLines(diff);
    const rewritten = new Set(sites.filter((s) => s.action === 'rewrite').map((s) => s.file));
    expect([...touched.keys()].sort()).toEqual([...rewritten].sort());
    const a = spawnSync('git', ['apply', '--check', '-'], { cwd: tree, input: diff, encoding: 'latin1' });
    expect(a.stderr).toBe('');
    const dir = mkdtempSync(path.join(tmpdir(), 'gupmod-cc-'));
    const file = path.join(dir, 'all.diff');
    writeFileSync(file, diff, 'latin1');
    const c = spawnSync('perl', ['scripts/checkpatch.pl', '--strict', '--no-signoff', file], { cwd: tree, encoding: 'latin1' });
    expect(c.stdout).toMatch(/total: 0 errors, 0 warnings, 0 checks/);
  });

  it('judges videobuf_dma_init_user_locked: its partial pages are released later, not leaked', () => {
    const s = sites.find((x) => x.file === 'drivers/media/v4l2-core/videobuf-dma-sg.c' && x.category === 'count-check')!;
    expect(s.bugs).toEqual([]);
    expect(s.reason).toMatch(/videobuf_dma_free\(\) releases/);
  });
});
