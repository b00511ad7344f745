/**
 * The built CLI end to end: `node bin/gupmod.js` spawned on a fresh copy of
 * fixtures/sample-tree for each test. Run `npx tsc -p .` first.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';

const BIN = path.join(ROOT, 'bin', 'gupmod.js');
const SAMPLE = path.join(ROOT, 'fixtures', 'sample-tree');

/** The sample tree's retry loops: what a dry run over it must rewrite, and only these. */
const RETRY_LOOP_FILES = [
  'drivers/gpu/drm/rdx/rdx_ttm.c',
  'drivers/gpu/drm/vexa/vexa_gem.c',
  'drivers/infiniband/hw/qlx/qlx_user_pages.c',
];
/** Its GUP call sites that are left alone. */
const LEFT_ALONE_FILES = ['drivers/infiniband/hw/qlx/qlx_doorbell.c', 'drivers/media/pci/tvx/tvx-udma.c', 'drivers/vhost/vxpa.c'];

const SITE_KEYS = ['action', 'api', 'bugs', 'category', 'column', 'file', 'function', 'line', 'reason'];
const CATEGORIES = ['retry-loop', 'count-check', 'chunked-loop', 'partial-ok', 'single-page', 'unknown'];
const ACTIONS = ['rewrite', 'review', 'leave'];
const TEXT_LINE = /^[^:]+:\d+:\d+: (error|warning|note): \[[\w-]+\] /;

// ---------------------------------------------------------------------------
// Helpers

const temps: string[] = [];

afterEach(() => {
  for (const d of temps.splice(0)) {
    // A test may leave a mode 000 file or directory behind.
    for (const f of fs.readdirSync(d, { recursive: true, withFileTypes: false }) as string[]) {
      try {
        const p = path.join(d, f);
        if (!fs.lstatSync(p).isSymbolicLink()) fs.chmodSync(p, 0o700);
      } catch {
        // ignore
      }
    }
    fs.rmSync(d, { recursive: true, force: true });
  }
});

/** A fresh temporary directory, removed after the test. */
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'gupmod-cli-'));
  temps.push(d);
  return d;
}

/**
 * A copy of the sample tree at `<tmp>/tree`, every file's mtime set to a
 * fixed past time so that any write shows.
 */
function sampleCopy(): string {
  const tree = path.join(tempDir(), 'tree');
  fs.cpSync(SAMPLE, tree, { recursive: true });
  const past = new Date('2020-01-02T03:04:05Z');
  for (const f of fs.readdirSync(tree, { recursive: true }) as string[]) {
    const p = path.join(tree, f);
    if (fs.lstatSync(p).isFile()) fs.utimesSync(p, past, past);
  }
  return tree;
}

interface Run {
  status: number | null;
  /** stdout decoded latin1: byte for byte. */
  stdout: string;
  stdoutBytes: Buffer;
  stderr: string;
}

function gupmod(args: string[], opts: { cwd?: string; uid?: number } = {}): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    encoding: 'buffer',
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
    timeout: 20_000,
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.uid } : {}),
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout.toString('latin1'), stdoutBytes: r.stdout, stderr: r.stderr.toString('utf8') };
}

/** Run a tool (git, patch) in `cwd` with `input` on stdin. */
function tool(cmd: string, args: string[], cwd: string, input: Buffer) {
  const r = spawnSync(cmd, args, {
    cwd,
    input,
    encoding: 'utf8',
    // Keep git from finding a repository above the temporary directory.
    env: { ...process.env, GIT_CEILING_DIRECTORIES: path.dirname(cwd) },
  });
  if (r.error) throw r.error;
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

interface Entry {
  kind: 'file' | 'dir' | 'link';
  sha: string;
  mode: number;
  mtimeMs: number;
}

/** Every entry under `dir`: content hash, mode and mtime (symlinks by target). */
function snapshot(dir: string): Record<string, Entry> {
  const out: Record<string, Entry> = {};
  for (const f of (fs.readdirSync(dir, { recursive: true }) as string[]).sort()) {
    const p = path.join(dir, f);
    const st = fs.lstatSync(p);
    const key = f.split(path.sep).join('/');
    if (st.isSymbolicLink()) {
      out[key] = { kind: 'link', sha: fs.readlinkSync(p), mode: 0, mtimeMs: 0 };
    } else if (st.isDirectory()) {
      out[key] = { kind: 'dir', sha: '', mode: st.mode & 0o7777, mtimeMs: 0 };
    } else {
      const sha = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
      out[key] = { kind: 'file', sha, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs };
    }
  }
  return out;
}

/** Paths named by the `diff --git` headers of a diff. */
function diffPaths(diff: string): string[] {
  return diff
    .split('\n')
    .filter((l) => l.startsWith('diff --git '))
    .map((l) => {
      const m = /^diff --git a\/(\S+) b\/(\S+)$/.exec(l);
      expect(m, `malformed header: ${l}`).not.toBeNull();
      expect(m![1]).toBe(m![2]);
      return m![1];
    });
}

function expectApplies(diff: Buffer, cwd: string): void {
  const git = tool('git', ['apply', '--check', '-p1', '-'], cwd, diff);
  expect(git.out).toBe('');
  expect(git.status).toBe(0);
  const patch = tool('patch', ['-p1', '--dry-run', '--batch'], cwd, diff);
  expect(patch.status, patch.out).toBe(0);
  // Exact application: no offset, fuzz, reversal or rejects.
  expect(patch.out).not.toMatch(/offset|fuzz|FAILED|Reversed|reject/i);
}

interface JsonSite {
  file: string;
  line: number;
  column: number;
  function: string | null;
  api: string;
  category: string;
  action: string;
  bugs: string[];
  reason: string;
}

/** A retry loop in kernel style, rewritten by the tool (same shape as the fixtures). */
const ZETA_HEAD =
  '// SPDX-License-Identifier: GPL-2.0\n' +
  '/*\n' +
  ' * Zeta frame grabber: user buffers.\n' +
  ' *\n' +
  ' * Copyright (C) 2024 Ren\xe9 Dubois\n' +
  ' */\n' +
  '\n' +
  '#include <linux/mm.h>\n' +
  '\n' +
  '/* Pin the whole buffer (Ren\xe9: no partial frames). */\n' +
  'static int zeta_pin(struct zeta_buf *buf, unsigned long npages)\n' +
  '{\n';
const ZETA_BODY =
  '\tunsigned long pinned = 0;\n' +
  '\tlong ret;\n' +
  '\n' +
  '\tdo {\n' +
  '\t\tret = pin_user_pages_fast(buf->uaddr + pinned * PAGE_SIZE,\n' +
  '\t\t\t\t\t  npages - pinned, FOLL_WRITE,\n' +
  '\t\t\t\t\t  buf->pages + pinned);\n' +
  '\t\tif (ret < 0) {\n' +
  '\t\t\tunpin_user_pages(buf->pages, pinned);\n' +
  '\t\t\treturn ret;\n' +
  '\t\t}\n' +
  '\t\tpinned += ret;\n' +
  '\t} while (pinned < npages);';
const ZETA_TAIL =
  '\n' +
  '\n' +
  '\tbuf->npages = npages;\n' +
  '\treturn 0;\n' +
  '}\n' +
  '\n' +
  'void zeta_unpin(struct zeta_buf *buf)\n' +
  '{\n' +
  '\tunpin_user_pages(buf->pages, buf->npages);\n' +
  '\tbuf->npages = 0;\n' +
  '}\n';

const latin1 = (s: string) => Buffer.from(s, 'latin1');
const crlf = (s: string) => s.replace(/\n/g, '\r\n');

// ---------------------------------------------------------------------------

describe('gupmod CLI on fixtures/sample-tree', () => {
  it('dry run: a git diff relative to -C, which git apply and patch -p1 take, and nothing written', () => {
    const tree = sampleCopy();
    const before = snapshot(tree);
    const r = gupmod(['-C', tree, '.']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const files = diffPaths(r.stdout);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      expect(f).toMatch(/^drivers\//);
      expect(f).not.toMatch(/(^|\/)\.\.?\//);
      expect(fs.existsSync(path.join(tree, f)), f).toBe(true);
      expect(r.stdout).toContain(`diff --git a/${f} b/${f}\n--- a/${f}\n+++ b/${f}\n@@ `);
    }
    expect(files).toEqual([...files].sort());
    for (const f of ['drivers/vhost/vxpa.c', 'drivers/infiniband/hw/qlx/qlx_doorbell.c']) expect(files).not.toContain(f);
    expect(r.stdout).toContain('FOLL_COMPLETE');
    expectApplies(r.stdoutBytes, tree);
    expect(snapshot(tree)).toEqual(before);
  });

  it('rewrites the three retry loops of the sample tree and nothing else', () => {
    const tree = sampleCopy();
    const r = gupmod(['-C', tree, '-t', 'retry-loop', '.']);
    expect(r.status).toBe(0);
    expect(diffPaths(r.stdout)).toEqual(RETRY_LOOP_FILES);
    const report = gupmod(['-C', tree, '-t', 'retry-loop', '--report', '--format', 'json', '.']);
    const sites = JSON.parse(report.stdout) as JsonSite[];
    const rewrites = sites.filter((s) => s.action === 'rewrite');
    expect(rewrites.map((s) => `${s.file}: ${s.category}`)).toEqual(RETRY_LOOP_FILES.map((f) => `${f}: retry-loop`));
  });

  it('from inside the tree, a relative path gives the same diff as -C', () => {
    const tree = sampleCopy();
    const viaC = gupmod(['-C', tree, 'drivers']);
    expect(viaC.status).toBe(0);
    expect(viaC.stdout).toMatch(/^diff --git a\/drivers\//);
    for (const arg of ['drivers', './drivers/']) {
      const inside = gupmod([arg], { cwd: tree });
      expect(inside.stderr).toBe('');
      expect(inside.status).toBe(0);
      expect(inside.stdout, arg).toBe(viaC.stdout);
    }
  });

  it('--write: the same bytes as patch -p1 of the dry run, modes kept, other files untouched', () => {
    const tree = sampleCopy();
    const copy = sampleCopy();
    const diff = gupmod(['-C', tree, '.']);
    expect(diff.status).toBe(0);
    const changed = diffPaths(diff.stdout);
    expect(changed.length).toBeGreaterThan(0);
    fs.chmodSync(path.join(tree, changed[0]), 0o640);
    fs.chmodSync(path.join(copy, changed[0]), 0o640);
    const before = snapshot(tree);

    const w = gupmod(['-C', tree, '--write', '.']);
    expect(w.stderr).toBe('');
    expect(w.status).toBe(0);
    expect(w.stdout).toBe('');
    const patched = tool('patch', ['-p1', '--batch', '--no-backup-if-mismatch'], copy, diff.stdoutBytes);
    expect(patched.status, patched.out).toBe(0);

    const after = snapshot(tree);
    const expected = snapshot(copy);
    // Same entries (no temp file left behind), same bytes as patch made.
    expect(Object.keys(after)).toEqual(Object.keys(before));
    for (const k of Object.keys(after)) {
      expect(after[k].sha, k).toBe(expected[k].sha);
      expect(after[k].mode, `mode of ${k}`).toBe(before[k].mode);
      if (changed.includes(k)) {
        expect(after[k].sha, `${k} rewritten`).not.toBe(before[k].sha);
      } else {
        expect(after[k], `${k} untouched`).toEqual(before[k]);
      }
    }
    expect(after[changed[0]].mode).toBe(0o640);
  });

  it('--write twice: the second run changes nothing and a dry run afterwards prints nothing', () => {
    const tree = sampleCopy();
    const w = gupmod(['-C', tree, '--write', '.']);
    expect(w.status).toBe(0);
    const after = snapshot(tree);
    const sample = snapshot(SAMPLE);
    expect(Object.keys(after).filter((k) => after[k].sha !== sample[k].sha).length).toBeGreaterThan(0);
    const again = gupmod(['-C', tree, '--write', '.']);
    expect(again.stderr).toBe('');
    expect(again.status).toBe(0);
    expect(snapshot(tree)).toEqual(after);
    const dry = gupmod(['-C', tree, '.']);
    expect(dry.status).toBe(0);
    expect(dry.stdout).toBe('');
  });

  it('--check: exit 1 while rewrites remain, 0 on the rewritten tree, nothing written', () => {
    const tree = sampleCopy();
    const before = snapshot(tree);
    const c = gupmod(['-C', tree, '--check', '.']);
    expect(c.status).toBe(1);
    expect(snapshot(tree)).toEqual(before);
    expect(gupmod(['-C', tree, '--write', '.']).status).toBe(0);
    const written = snapshot(tree);
    const c2 = gupmod(['-C', tree, '--check', '.']);
    expect(c2.stderr).toBe('');
    expect(c2.status).toBe(0);
    expect(snapshot(tree)).toEqual(written);
  });

  it('--write and --check together are refused', () => {
    const tree = sampleCopy();
    const before = snapshot(tree);
    const r = gupmod(['-C', tree, '--write', '--check', '.']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--write.*--check|--check.*--write/);
    expect(snapshot(tree)).toEqual(before);
  });

  it('--report --format json --all: every site, sorted, with the contract fields', () => {
    const tree = sampleCopy();
    const r = gupmod(['-C', tree, '--report', '--format', 'json', '--all', '.']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const sites = JSON.parse(r.stdout) as JsonSite[];
    expect(Array.isArray(sites)).toBe(true);
    for (const s of sites) {
      for (const k of SITE_KEYS) expect(s, `${k} in ${JSON.stringify(s)}`).toHaveProperty(k);
      expect(typeof s.file).toBe('string');
      expect(s.file).not.toMatch(/^\.?\.?\//);
      expect(fs.existsSync(path.join(tree, s.file))).toBe(true);
      expect(Number.isInteger(s.line) && s.line >= 1).toBe(true);
      expect(Number.isInteger(s.column) && s.column >= 1).toBe(true);
      expect(s.function === null || typeof s.function === 'string').toBe(true);
      expect(s.api).toMatch(/^(pin|get)_user_pages/);
      expect(CATEGORIES).toContain(s.category);
      expect(ACTIONS).toContain(s.action);
      expect(Array.isArray(s.bugs)).toBe(true);
      expect(typeof s.reason).toBe('string');
      expect(s.reason.length).toBeGreaterThan(0);
      // line/column point at the GUP function's name.
      const line = fs.readFileSync(path.join(tree, s.file), 'latin1').split('\n')[s.line - 1];
      expect(line.slice(s.column - 1)).toMatch(new RegExp(`^${s.api}\\s*\\(`));
    }
    for (let i = 1; i < sites.length; i++) {
      const a = sites[i - 1];
      const b = sites[i];
      expect(a.file < b.file || (a.file === b.file && a.line <= b.line), `${a.file}:${a.line} before ${b.file}:${b.line}`).toBe(true);
    }
    const files = new Set(sites.map((s) => s.file));
    for (const f of [...RETRY_LOOP_FILES, ...LEFT_ALONE_FILES]) expect(files, f).toContain(f);
    const site = (f: string) => sites.find((s) => s.file === f)!;
    expect(site('drivers/vhost/vxpa.c')).toMatchObject({ category: 'chunked-loop', action: 'leave' });
    expect(site('drivers/infiniband/hw/qlx/qlx_doorbell.c')).toMatchObject({
      api: 'get_user_pages_fast',
      category: 'single-page',
      action: 'leave',
    });
    expect(site('drivers/media/pci/tvx/tvx-udma.c').category).not.toBe('retry-loop');
    for (const f of RETRY_LOOP_FILES) expect(site(f).category).toBe('retry-loop');

    // Without --all: only what is not left alone (or has a bug).
    const some = gupmod(['-C', tree, '--report', '--format', 'json', '.']);
    expect(some.status).toBe(0);
    const shown = JSON.parse(some.stdout) as JsonSite[];
    expect(shown).toEqual(sites.filter((s) => s.action !== 'leave' || s.bugs.length > 0));
    expect(shown.length).toBeGreaterThan(0);
    expect(shown.length).toBeLessThan(sites.length);
  });

  it('--report text: one `file:line:col: severity: [transform] message` line per site', () => {
    const tree = sampleCopy();
    const lines: Record<string, string[]> = {};
    for (const extra of [[], ['--all']]) {
      const r = gupmod(['-C', tree, '--report', ...extra, '.']);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout.endsWith('\n')).toBe(true);
      lines[extra.join('')] = r.stdout.slice(0, -1).split('\n');
      for (const l of lines[extra.join('')]) expect(l).toMatch(TEXT_LINE);
    }
    const all = lines['--all'];
    // Every GUP call site of the tree, sorted by file, then line.
    const key = (l: string) => {
      const m = /^([^:]+):(\d+):(\d+):/.exec(l)!;
      return { file: m[1], line: Number(m[2]) };
    };
    for (let i = 1; i < all.length; i++) {
      const a = key(all[i - 1]);
      const b = key(all[i]);
      expect(a.file < b.file || (a.file === b.file && a.line <= b.line)).toBe(true);
    }
    for (const f of [...RETRY_LOOP_FILES, ...LEFT_ALONE_FILES]) expect(all.some((l) => l.startsWith(`${f}:`)), f).toBe(true);
    // Without --all, the notes (left alone, no bug) go.
    expect(lines['']).toEqual(all.filter((l) => !/^[^:]+:\d+:\d+: note: /.test(l)));
    expect(lines[''].length).toBeLessThan(all.length);
  });

  it('a path that does not exist: exit 2, named on stderr, the other paths still processed', () => {
    const tree = sampleCopy();
    const good = gupmod(['-C', tree, 'drivers']);
    const r = gupmod(['-C', tree, 'drivers', 'no/such/file.c']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('no/such/file.c');
    expect(r.stdout).toMatch(/^diff --git a\/drivers\//);
    expect(r.stdout).toBe(good.stdout);
  });

  it('an unreadable .c file: exit 2, named on stderr, the other files still processed', () => {
    const tree = sampleCopy();
    const rel = 'drivers/misc/zeta.c';
    fs.mkdirSync(path.join(tree, 'drivers/misc'));
    fs.writeFileSync(path.join(tree, rel), latin1(ZETA_HEAD + ZETA_BODY + ZETA_TAIL));
    fs.chmodSync(path.join(tree, rel), 0o000);
    // Root reads a chmod 000 file: run the tool as nobody then, on a tree nobody can read.
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      for (let d = tree; d !== path.dirname(d); d = path.dirname(d)) {
        const m = fs.statSync(d).mode;
        if ((m & 0o005) !== 0o005) fs.chmodSync(d, m | 0o005);
      }
      const chmodAll = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
          const p = path.join(d, e.name);
          if (p.endsWith(rel)) continue;
          fs.chmodSync(p, e.isDirectory() ? 0o755 : 0o644);
          if (e.isDirectory()) chmodAll(p);
        }
      };
      chmodAll(tree);
    }
    const r = gupmod(['-C', tree, '.'], asRoot ? { uid: 65534 } : {});
    expect(r.stderr).toContain(`${rel}: permission denied`);
    expect(r.status).toBe(2);
    expect(r.stdout).toMatch(/^diff --git a\/drivers\//);
    expect(r.stdout).not.toContain(rel);
  });

  it('CRLF, a non-UTF-8 byte, no final newline: only the loop changes, new lines use CRLF', () => {
    const tree = sampleCopy();
    fs.mkdirSync(path.join(tree, 'drivers/misc'));
    const rel = 'drivers/misc/zeta.c';
    const relLf = 'drivers/misc/zeta-lf.c';
    const head = latin1(crlf(ZETA_HEAD));
    const tail = latin1(crlf(ZETA_TAIL).replace(/\r\n$/, ''));
    const original = Buffer.concat([head, latin1(crlf(ZETA_BODY)), tail]);
    expect(original.includes(0xe9)).toBe(true);
    fs.writeFileSync(path.join(tree, rel), original);
    fs.writeFileSync(path.join(tree, relLf), latin1(ZETA_HEAD + ZETA_BODY + ZETA_TAIL.replace(/\n$/, '')));

    // The dry run carries the CR and the 0xE9 byte through and applies.
    const dry = gupmod(['-C', tree, rel]);
    expect(dry.status).toBe(0);
    expect(diffPaths(dry.stdout)).toEqual([rel]);
    expect(dry.stdoutBytes.includes(latin1('\r\n'))).toBe(true);
    expect(dry.stdoutBytes.includes(0xe9)).toBe(true);
    expectApplies(dry.stdoutBytes, tree);

    const w = gupmod(['-C', tree, '--write', 'drivers/misc']);
    expect(w.stderr).toBe('');
    expect(w.status).toBe(0);
    const after = fs.readFileSync(path.join(tree, rel));
    expect(after.equals(original)).toBe(false);
    expect(after.subarray(0, head.length).equals(head)).toBe(true);
    expect(after.subarray(after.length - tail.length).equals(tail)).toBe(true);
    const middle = after.subarray(head.length, after.length - tail.length).toString('latin1');
    expect(middle).toContain('FOLL_COMPLETE');
    expect(middle).not.toMatch(/(^|[^\r])\n/);
    expect(middle).not.toMatch(/\r(?!\n)/);
    // The same rewrite as the LF copy of the file, only with CRLF.
    const afterLf = fs.readFileSync(path.join(tree, relLf), 'latin1');
    expect(afterLf).not.toBe(ZETA_HEAD + ZETA_BODY + ZETA_TAIL.replace(/\n$/, ''));
    expect(after.toString('latin1')).toBe(crlf(afterLf));
  });

  it('-t retry-loop runs only that transform', () => {
    const tree = sampleCopy();
    const only = gupmod(['-C', tree, '-t', 'retry-loop', '.']);
    expect(only.stderr).toBe('');
    expect(only.status).toBe(0);
    const files = diffPaths(only.stdout);
    expect(files).toContain('drivers/gpu/drm/rdx/rdx_ttm.c');
    for (const f of files) expect(RETRY_LOOP_FILES).toContain(f);
  });

  it('-t nope: exit 2 with a message naming it, nothing done', () => {
    const tree = sampleCopy();
    const before = snapshot(tree);
    const bad = gupmod(['-C', tree, '-t', 'nope', '--write', '.']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('nope');
    expect(bad.stdout).toBe('');
    expect(snapshot(tree)).toEqual(before);
  });

  it('list-transforms names retry-loop', () => {
    const list = gupmod(['list-transforms']);
    expect(list.status).toBe(0);
    expect(list.stdout).toMatch(/^retry-loop\b/m);
  });

  it('a symlink out of the tree is not followed and is reported on stderr', () => {
    const tree = sampleCopy();
    const outside = path.join(path.dirname(tree), 'outside');
    fs.mkdirSync(outside);
    const target = path.join(outside, 'zeta.c');
    fs.writeFileSync(target, latin1(ZETA_HEAD + ZETA_BODY + ZETA_TAIL));
    // (The CRLF test shows that this loop is rewritten where it is read.)
    fs.mkdirSync(path.join(tree, 'drivers/misc'));
    fs.symlinkSync(target, path.join(tree, 'drivers/misc/zeta.c'));
    fs.symlinkSync('../../outside', path.join(tree, 'drivers/ext'));
    const targetBefore = fs.readFileSync(target);

    const r = gupmod(['-C', tree, '.']);
    expect(r.stdout).toMatch(/^diff --git a\/drivers\//);
    expect(r.stdout).not.toContain('zeta');
    expect(r.stdout).not.toContain('drivers/ext');
    expect(r.stderr).toContain('drivers/misc/zeta.c');
    expect(r.stderr).toContain('drivers/ext');

    gupmod(['-C', tree, '--write', '.']);
    expect(fs.readFileSync(target).equals(targetBefore)).toBe(true);
    expect(fs.lstatSync(path.join(tree, 'drivers/misc/zeta.c')).isSymbolicLink()).toBe(true);
  });
});
