/**
 * Robust on real and hostile input (issue 3):
 *
 * - byte-exact: a file gupmod does not rewrite is never written; in a file it
 *   rewrites, every byte outside the edited statements is kept (non-UTF-8
 *   bytes, CRLF, no final newline, trailing whitespace), through
 *   `processText` and through `--write`, over every rewrite fixture;
 * - no crash and no hang on hostile files, with one line on stderr for each
 *   file skipped, the other files still processed, and exit status 2;
 * - `--write` goes through a temporary file in the same directory, renamed,
 *   never leaves one behind, fails cleanly in a read-only directory, and
 *   does not overwrite a file changed since it was read;
 * - reproducers of the bugs test/fuzz.test.ts found.
 *
 * The CLI tests spawn the built bin/gupmod.js (`npm test` builds first).
 * Tests run as root in CI: where a permission must bite, the tool runs as
 * uid 65534 (nobody), as in test/cli.test.ts.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { diffArrays } from 'diff';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_NESTING, processText } from '../src/engine.js';
import { run } from '../src/index.js';
import { nameBytes, nameFromBytes, quotePath, unquotePath } from '../src/quote.js';
import { errorCount, parse } from '../src/parse/index.js';
import { verifyRewrite } from '../src/verify.js';
import { writeAtomic } from '../src/write.js';
import { TRANSFORMS } from '../transforms/index.js';
import { FIXTURES, ROOT, fixtureCases, type FixtureCase } from './helpers.js';

const BIN = path.join(ROOT, 'bin', 'gupmod.js');
const AS_ROOT = process.getuid?.() === 0;
const NOBODY = 65534;
const PAST = new Date('2020-01-02T03:04:05Z');

// ---------------------------------------------------------------------------
// Helpers

const temps: string[] = [];

afterEach(() => {
  vi.restoreAllMocks();
  for (const d of temps.splice(0)) {
    // A test may leave a mode 000 file or a read-only directory behind.
    for (const f of fs.readdirSync(d, { recursive: true }) as string[]) {
      try {
        const p = path.join(d, f);
        if (!fs.lstatSync(p).isSymbolicLink()) fs.chmodSync(p, 0o700);
      } catch {
        // ignore
      }
    }
    fs.chmodSync(d, 0o700);
    fs.rmSync(d, { recursive: true, force: true });
  }
});

/** A fresh temporary directory that nobody (uid 65534) can enter, removed after the test. */
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'gupmod-robust-'));
  fs.chmodSync(d, 0o755);
  temps.push(d);
  return d;
}

const latin1 = (s: string) => Buffer.from(s, 'latin1');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function gupmod(args: string[], opts: { uid?: number; timeout?: number } = {}): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    encoding: 'buffer',
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
    timeout: opts.timeout ?? 60_000,
    maxBuffer: 256 << 20,
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.uid } : {}),
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout.toString('latin1'), stderr: r.stderr.toString('utf8') };
}

/** Write `files` (path -> latin1 text) under `dir`, mtimes set in the past so that any write shows. */
function writeTree(dir: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, latin1(text));
    fs.utimesSync(p, PAST, PAST);
  }
}

interface Stamp {
  ino: number;
  mtimeMs: number;
  bytes: Buffer;
}

function stamp(p: string): Stamp {
  const st = fs.statSync(p);
  return { ino: st.ino, mtimeMs: st.mtimeMs, bytes: fs.readFileSync(p) };
}

/** Every regular file under `dir` (dot files included), relative, sorted. */
function listFiles(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => {
      try {
        return fs.lstatSync(path.join(dir, f)).isFile();
      } catch {
        return false;
      }
    })
    .sort();
}

const TEMP_FILE = /\.gupmod-[^/]*\.tmp$/;

/** stderr as `{ file: reason }`, every line checked to be one `gupmod: FILE: REASON` message. */
function messages(stderr: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stderr.split('\n').filter((l) => l !== '')) {
    const m = /^gupmod: (\S+): (\S.*)$/.exec(line);
    expect(m, `not a one-line file message: ${line}`).not.toBeNull();
    expect(out[m![1]!], `two messages for ${m![1]}`).toBeUndefined();
    out[m![1]!] = m![2]!;
  }
  return out;
}

/** Let uid 65534 read `dir` (and, with `own`, write it): directories 755, files 644. */
function openTo(dir: string, own = false): void {
  for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) {
    const m = fs.statSync(d).mode;
    if ((m & 0o005) !== 0o005) fs.chmodSync(d, m | 0o005);
  }
  const visit = (p: string) => {
    const st = fs.lstatSync(p);
    if (st.isSymbolicLink()) return;
    fs.chmodSync(p, st.isDirectory() ? 0o755 : 0o644);
    if (own) fs.chownSync(p, NOBODY, NOBODY);
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) visit(path.join(p, e));
  };
  visit(dir);
}

// ---------------------------------------------------------------------------
// Byte-exact

/** The rewrite fixture pairs of every transform. */
const PAIRS: Array<FixtureCase & { expected: string }> = TRANSFORMS.flatMap((t) =>
  fixtureCases(t.meta.id).filter((c): c is FixtureCase & { expected: string } => c.expected !== null),
);
/** The negatives: gupmod must leave them as they are. */
const NEGATIVES: FixtureCase[] = TRANSFORMS.flatMap((t) => fixtureCases(t.meta.id).filter((c) => c.expected === null));

const lines = (s: string) => s.split(/(?<=\n)/);

/**
 * Lines of `input` (0-based) outside the statements the rewrite edits: the
 * lines a line diff of input and expected output keeps, less every line of a
 * statement of a function body that holds a changed line (a rewritten
 * statement may be printed anew, e.g. a call wrapped again).
 */
function untouchedLines(input: string, expected: string): Set<number> {
  const changed = new Set<number>();
  let i = 0;
  for (const part of diffArrays(lines(input), lines(expected))) {
    if (part.removed) {
      for (let k = 0; k < part.count!; k++) changed.add(i + k);
      i += part.count!;
    } else if (part.added) {
      changed.add(i - 1);
      changed.add(i);
    } else {
      i += part.count!;
    }
  }
  const edited = new Set(changed);
  const file = parse('x.c', input);
  for (const fn of file.root.namedChildren.filter((n) => n.type === 'function_definition')) {
    for (const st of fn.childForFieldName('body')?.namedChildren ?? []) {
      const rows: number[] = [];
      for (let r = st.startPosition.row; r <= st.endPosition.row; r++) rows.push(r);
      if (rows.some((r) => changed.has(r))) for (const r of rows) edited.add(r);
    }
  }
  const out = new Set<number>();
  lines(input).forEach((_, r) => {
    if (!edited.has(r)) out.add(r);
  });
  return out;
}

/** Add ` \t ` at the end of every non-blank untouched line, in the input and at the same line of the output. */
function withTrailingWhitespace(input: string, expected: string): [string, string] {
  const keep = untouchedLines(input, expected);
  const ws = (l: string) => (l.trim() === '' ? l : l.replace(/(\r?\n)?$/, ' \t $1'));
  const a: string[] = [];
  const b: string[] = [];
  let i = 0;
  for (const part of diffArrays(lines(input), lines(expected))) {
    for (const l of part.value) {
      if (part.added) b.push(l);
      else if (part.removed) a.push(l), i++;
      else {
        const t = keep.has(i) ? ws(l) : l;
        a.push(t);
        b.push(t);
        i++;
      }
    }
  }
  return [a.join(''), b.join('')];
}

/** Bytes that are not UTF-8 (latin1 é, 0xff, a lone continuation byte), before, between and after the functions. */
function withNonUtf8(input: string, expected: string): [string, string] {
  const head = '/* Ren\xe9 Dub\xf6is \xff\x80\x9d */\n';
  const mid = 'static const char gupmod_who[] __maybe_unused = "Ren\xe9 \xa7 \xfe";\n';
  const tail = '\n/* \xe9t\xe9 \x80 */\n';
  const at = (s: string) => s.indexOf('\n', s.indexOf('#include "kernel.h"')) + 1;
  const add = (s: string) => head + s.slice(0, at(s)) + mid + s.slice(at(s)) + tail;
  return [add(input), add(expected)];
}

const VARIANTS: Array<{ name: string; make: (input: string, expected: string) => [string, string]; check: (s: string) => boolean }> = [
  { name: 'non-UTF-8 bytes', make: withNonUtf8, check: (s) => /[\x80-\xff]/.test(s) && !Buffer.from(s, 'latin1').equals(Buffer.from(Buffer.from(s, 'latin1').toString('utf8'), 'utf8')) },
  { name: 'CRLF line ends', make: (i, e) => [i.replace(/\n/g, '\r\n'), e.replace(/\n/g, '\r\n')], check: (s) => s.includes('\r\n') && !/[^\r]\n/.test(s) },
  { name: 'no final newline', make: (i, e) => [i.replace(/\n$/, ''), e.replace(/\n$/, '')], check: (s) => !s.endsWith('\n') },
  { name: 'trailing whitespace', make: withTrailingWhitespace, check: (s) => / \t \n/.test(s) },
];

describe('byte-exact: every rewrite fixture, varied', () => {
  it('has rewrite pairs and negatives to vary', () => {
    expect(PAIRS.length).toBeGreaterThan(30);
    expect(NEGATIVES.length).toBeGreaterThan(10);
  });

  for (const v of VARIANTS) {
    it(`processText, ${v.name}: the rewrite is the expected output with the same variation, byte for byte`, () => {
      for (const c of PAIRS) {
        const [input, expected] = v.make(c.input, c.expected);
        expect(v.check(input), `${c.name}: the variation is not there`).toBe(true);
        const r = processText(`${c.transform}/${c.name}.c`, input, TRANSFORMS);
        expect(r.error).toBeUndefined();
        expect(r.output ?? input, `${c.transform}/${c.name}.c`).toBe(expected);
      }
    });

    it(`--write, ${v.name}: rewritten files hold exactly the expected bytes, other files are not written`, () => {
      const tree = path.join(tempDir(), 'tree');
      const want: Record<string, string> = {};
      const files: Record<string, string> = {};
      for (const c of PAIRS) {
        const [input, expected] = v.make(c.input, c.expected);
        files[`${c.transform}/${c.name}.c`] = input;
        want[`${c.transform}/${c.name}.c`] = expected;
      }
      for (const c of NEGATIVES) files[`${c.transform}/${c.name}.c`] = v.make(c.input, c.input)[0];
      writeTree(tree, files);
      const before = Object.fromEntries(Object.keys(files).map((f) => [f, stamp(path.join(tree, f))]));

      const r = gupmod(['-C', tree, '--write', '-q', '.']);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      for (const [f, text] of Object.entries(want)) {
        expect(fs.readFileSync(path.join(tree, f)).equals(latin1(text)), f).toBe(true);
      }
      for (const c of NEGATIVES) {
        const f = `${c.transform}/${c.name}.c`;
        expect(stamp(path.join(tree, f)), f).toEqual(before[f]);
      }
      expect(listFiles(tree).filter((f) => TEMP_FILE.test(f))).toEqual([]);
    });
  }

  it('--write never writes a file it does not rewrite: negatives, GUP-free, empty and non-C files keep inode, mtime and bytes', () => {
    const tree = path.join(tempDir(), 'tree');
    const pair = PAIRS.find((c) => c.name === 'while-direct-args')!;
    const files: Record<string, string> = {
      'drivers/a/rewrite.c': pair.input,
      'drivers/a/plain.c': '#include <linux/mm.h>\n\nint plain(void)\n{\n\treturn 0;\n}\n',
      'drivers/a/empty.c': '',
      'drivers/a/notes.txt': pair.input,
      'drivers/a/header.h': '#define PIN(a, n, p) pin_user_pages_fast(a, n, FOLL_WRITE, p)\n',
    };
    for (const c of NEGATIVES) files[`neg/${c.name}.c`] = c.input;
    writeTree(tree, files);
    const before = Object.fromEntries(Object.keys(files).map((f) => [f, stamp(path.join(tree, f))]));
    const r = gupmod(['-C', tree, '--write', '-q', '.']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(fs.readFileSync(path.join(tree, 'drivers/a/rewrite.c'), 'latin1')).toBe(pair.expected);
    for (const f of Object.keys(files)) {
      if (f === 'drivers/a/rewrite.c') continue;
      expect(stamp(path.join(tree, f)), f).toEqual(before[f]);
    }
    // The rewritten file was replaced (rename), not written in place.
    expect(fs.statSync(path.join(tree, 'drivers/a/rewrite.c')).ino).not.toBe(before['drivers/a/rewrite.c']!.ino);
  });
});

// ---------------------------------------------------------------------------
// Hostile input

const GOOD = PAIRS.find((c) => c.name === 'while-direct-args')!;
/** The retry loop of GOOD: `\twhile (pinned < npages) {` .. its closing `\t}\n`. */
const LOOP_AT = GOOD.input.indexOf('\twhile (pinned < npages) {');
const LOOP_END = GOOD.input.indexOf('\t}\n\n\tdma->uaddr') + 3;
const LOOP = GOOD.input.slice(LOOP_AT, LOOP_END);

function around(prefix: string, loop: string, suffix: string): string {
  return GOOD.input.slice(0, LOOP_AT) + prefix + loop + suffix + GOOD.input.slice(LOOP_END);
}

/** `#if`/`#else` branches that each open a brace around the retry loop; one `}` after it. */
const IF_ELSE_BRACES = around(
  '#ifdef CONFIG_VBUF_CHECK\n\tif (dma->uaddr) {\n#else\n\tif (uaddr) {\n#endif\n',
  LOOP.replace(/^(?=.)/gm, '\t'),
  '\t}\n',
);

const N_DEEP = 100_000;
const HOSTILE: Record<string, string> = {
  empty: '',
  'nested braces, balanced': 'void f(void)\n{' + '{'.repeat(N_DEEP) + 'ret = pin_user_pages_fast(a, b, c, d);' + '}'.repeat(N_DEEP) + '}\n',
  'nested braces, never closed': 'void f(void)\n' + '{'.repeat(N_DEEP) + '\n\tret = pin_user_pages_fast(a, b, c, d);\n',
  'nested parentheses': 'void f(void)\n{\n\tret = ' + '('.repeat(N_DEEP) + 'pin_user_pages_fast(a, b, c, d)' + ')'.repeat(N_DEEP) + ';\n}\n',
  'a long else-if chain': 'void f(void)\n{\n\tret = pin_user_pages_fast(a, b, c, d);\n' + '\tif (ret == 1) x(); else\n'.repeat(20_000) + '\ty();\n}\n',
  'unterminated comment': GOOD.input.replace('struct vbuf_dma {', '/* never closed\nstruct vbuf_dma {'),
  'unterminated string': GOOD.input.replace('\t\t\treturn ret;', '\t\t\tpr_err("no end);\n\t\t\treturn ret;'),
  'unterminated character constant': GOOD.input.replace('\t\tpinned += ret;', "\t\tpinned += '\\;\n\t\tpinned += ret;"),
  '#if/#else branches each opening a brace': IF_ELSE_BRACES,
  'NUL bytes': 'int x;\0\0\x01 ret = pin_user_pages_fast(a, 1, 0, p);\0\xff',
};

describe('hostile input', () => {
  it('processText neither throws nor hangs on hostile text, and never makes a rewrite that adds a syntax error', () => {
    for (const [name, text] of Object.entries(HOSTILE)) {
      const r = processText(`${name}.c`, text, TRANSFORMS);
      if (r.output !== undefined) {
        expect(errorCount(parse('out.c', r.output).root), name).toBeLessThanOrEqual(errorCount(parse('in.c', text).root));
      }
      if (/^nested (braces, balanced|parentheses)|else-if/.test(name)) {
        expect(r.error, name).toBe(`code nested deeper than ${MAX_NESTING} levels (line 1); not processed`);
        expect(r.output).toBeUndefined();
      } else {
        expect(r.error, name).toBeUndefined();
      }
    }
    // No rewrite where the loop's braces depend on the preprocessor; the site says why.
    const ifElse = processText('if-else.c', IF_ELSE_BRACES, TRANSFORMS);
    expect(ifElse.output).toBeUndefined();
    expect(ifElse.sites).toHaveLength(1);
    expect(ifElse.sites[0]).toMatchObject({ category: 'unknown', action: 'leave', reason: expect.stringMatching(/does not parse cleanly/) });
    // A string left open inside the loop: reported for review, not rewritten.
    const str = processText('string.c', HOSTILE['unterminated string']!, TRANSFORMS);
    expect(str.output).toBeUndefined();
    expect(str.sites.map((s) => s.action)).toEqual(['review']);
    // A comment never closed swallows the loop, as it does for gcc: no site.
    expect(processText('comment.c', HOSTILE['unterminated comment']!, TRANSFORMS).sites).toEqual([]);
  });

  it('one tree of hostile files: one stderr line per skipped file, the rest processed, exit 2, nothing else written', () => {
    const top = tempDir();
    const tree = path.join(top, 'tree');
    const files: Record<string, string> = { 'drv/good.c': GOOD.input };
    for (const [name, text] of Object.entries(HOSTILE)) files[`drv/${name.replace(/[^a-z]+/gi, '-').replace(/^-|-$/g, '')}.c`] = text;
    files['drv/secret.c'] = GOOD.input;
    writeTree(tree, files);
    writeTree(top, { 'outside/zeta.c': GOOD.input });
    fs.symlinkSync('.', path.join(tree, 'drv/loop')); // a directory symlink loop inside the tree
    fs.symlinkSync('cycle-b', path.join(tree, 'drv/cycle-a')); // a symlink cycle
    fs.symlinkSync('cycle-a', path.join(tree, 'drv/cycle-b'));
    fs.symlinkSync('../../outside', path.join(tree, 'drv/ext')); // out of the tree
    if (AS_ROOT) openTo(top, true);
    fs.chmodSync(path.join(tree, 'drv/secret.c'), 0o000);
    const names = Object.keys(files).filter((f) => f !== 'drv/secret.c');
    const before = Object.fromEntries(names.map((f) => [f, stamp(path.join(tree, f))]));
    const as = AS_ROOT ? { uid: NOBODY } : {};

    const expectMessages = (stderr: string) => {
      const m = messages(stderr);
      expect(Object.keys(m).sort()).toEqual(
        ['drv/NUL-bytes.c', 'drv/a-long-else-if-chain.c', 'drv/cycle-a', 'drv/cycle-b', 'drv/ext', 'drv/nested-braces-balanced.c', 'drv/nested-parentheses.c', 'drv/secret.c'].sort(),
      );
      expect(m['drv/NUL-bytes.c']).toMatch(/binary/);
      expect(m['drv/cycle-a']).toMatch(/too many levels of symbolic links/);
      expect(m['drv/cycle-b']).toMatch(/too many levels of symbolic links/);
      expect(m['drv/ext']).toMatch(/out of the tree/);
      for (const f of ['drv/nested-braces-balanced.c', 'drv/nested-parentheses.c', 'drv/a-long-else-if-chain.c']) {
        expect(m[f]).toMatch(/nested deeper than \d+ levels/);
      }
      expect(m['drv/secret.c']).toBe('permission denied');
    };

    const dry = gupmod(['-C', tree, '-q', '.'], as);
    expectMessages(dry.stderr);
    expect(dry.status).toBe(2);
    // The good file is still rewritten, once (the loop symlink lists nothing twice).
    expect([...dry.stdout.matchAll(/^diff --git a\/(\S+)/gm)].map((x) => x[1])).toEqual(['drv/good.c']);
    expect(dry.stdout).toContain('FOLL_COMPLETE');

    const w = gupmod(['-C', tree, '-q', '--write', '.'], as);
    expectMessages(w.stderr);
    expect(w.status).toBe(2);
    expect(fs.readFileSync(path.join(tree, 'drv/good.c'), 'latin1')).toBe(GOOD.expected);
    for (const f of names) if (f !== 'drv/good.c') expect(stamp(path.join(tree, f)), f).toEqual(before[f]);
    expect(fs.readFileSync(path.join(top, 'outside/zeta.c'), 'latin1')).toBe(GOOD.input);
    expect(listFiles(tree).filter((f) => TEMP_FILE.test(f))).toEqual([]);
  });

  it('a 20 MB generated source file with GUP calls is read, rewritten where it holds a retry loop, and the diff applies', () => {
    const tree = path.join(tempDir(), 'tree');
    const filler = (i: number) =>
      `static int filler_${i}(struct page **p, unsigned long a)\n{\n\tint b = a * 3 + 1;\n\n` +
      (i % 4000 === 0 ? `\tif (b > 7)\n\t\treturn pin_user_pages_fast(a, 1, FOLL_WRITE, p);\n` : `\tif (b > 7)\n\t\treturn b - 2;\n`) +
      `\treturn b;\n}\n\n`;
    // The header and struct of GOOD, 10 MB of functions, GOOD's retry loop function, 10 MB more.
    const fnStart = GOOD.input.indexOf('int vbuf_dma_get_pages');
    const parts: string[] = [GOOD.input.slice(0, fnStart)];
    let size = 0;
    let i = 0;
    for (; size < 10 << 20; i++) size += (parts[parts.push(filler(i)) - 1]!).length;
    parts.push(GOOD.input.slice(fnStart));
    for (; size < 20 << 20; i++) size += (parts[parts.push(filler(i)) - 1]!).length;
    const big = parts.join('');
    expect(big.length).toBeGreaterThanOrEqual(20 << 20);
    writeTree(tree, { 'big.c': big, 'good.c': GOOD.input });

    const r = gupmod(['-C', tree, '-q', '.'], { timeout: 600_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect([...r.stdout.matchAll(/^diff --git a\/(\S+)/gm)].map((x) => x[1])).toEqual(['big.c', 'good.c']);
    const apply = spawnSync('git', ['apply', '--check', '-p1', '-'], { cwd: tree, input: Buffer.from(r.stdout, 'latin1'), encoding: 'utf8' });
    expect(apply.stderr).toBe('');
    expect(apply.status).toBe(0);
  }, 900_000);

  it('a file that vanishes between the walk and its read is named with the reason; the others are processed', async () => {
    const tree = path.join(tempDir(), 'tree');
    const files: Record<string, string> = {};
    for (let i = 0; i < 40; i++) files[`f${String(i).padStart(2, '0')}.c`] = GOOD.input;
    writeTree(tree, files);
    let calls = 0;
    const r = await run({
      paths: ['.'],
      cwd: tree,
      jobs: 0,
      // After the first files are read: the last one goes.
      onProgress: () => {
        if (calls++ === 0) fs.rmSync(path.join(tree, 'f39.c'));
      },
    });
    expect(calls).toBeGreaterThan(1);
    expect(r.problems).toEqual([{ path: 'f39.c', reason: 'no such file or directory' }]);
    expect(r.changed.map((c) => c.path)).toEqual(Object.keys(files).filter((f) => f !== 'f39.c'));
  });
});

// ---------------------------------------------------------------------------
// Hostile file names: a name that is not UTF-8 (src/files.ts reports and
// skips it), and names git quotes (src/quote.ts, used by the stderr messages,
// the text report and the diff headers).

describe('hostile file names', () => {
  it('a file name that is not UTF-8 is rewritten, or named on stderr as such; never "no such file or directory"', () => {
    const tree = path.join(tempDir(), 'tree');
    writeTree(tree, { 'good.c': GOOD.input });
    // readdir decodes names as UTF-8: the 0xE9 of a latin1 "café.c" becomes U+FFFD, a file that does not exist.
    const name = Buffer.concat([Buffer.from(tree + '/caf'), Buffer.from([0xe9]), Buffer.from('.c')]);
    fs.writeFileSync(name, latin1(GOOD.input));
    const r = gupmod(['-C', tree, '-q', '--write', '.']);
    expect(fs.readFileSync(path.join(tree, 'good.c'), 'latin1')).toBe(GOOD.expected);
    expect(r.stderr).not.toMatch(/no such file or directory/);
    const rewritten = fs.readFileSync(name, 'latin1') === GOOD.expected;
    if (!rewritten) {
      // git quotes such a name: "caf\351.c".
      expect(r.stderr).toMatch(/^gupmod: "?caf\S*\.c"?: .*UTF-8.*\n$/);
      expect(r.status).toBe(2);
    } else {
      expect(r.status).toBe(0);
    }
  });

  it('a file name holding a newline: one stderr line per file, and the dry-run diff applies with git apply', () => {
    const tree = path.join(tempDir(), 'tree');
    writeTree(tree, { 'evil\nname.c': GOOD.input, 'bin\nary.c': HOSTILE['NUL bytes']! });
    const r = gupmod(['-C', tree, '-q', '.']);
    expect(r.status).toBe(2);
    // One message, on one line (git quotes such a name: "bin\nary.c").
    expect(Object.keys(messages(r.stderr))).toHaveLength(1);
    expect(r.stderr).toMatch(/bin.*ary\.c"?: binary/);
    const apply = spawnSync('git', ['apply', '--check', '-p1', '-'], { cwd: tree, input: Buffer.from(r.stdout, 'latin1'), encoding: 'utf8' });
    expect(apply.stderr).toBe('');
    expect(apply.status).toBe(0);
    expect(r.stdout).toContain('FOLL_COMPLETE');
  });

  it('quotePath quotes a name as git does, bytes that are not UTF-8 included, and unquotePath undoes it', () => {
    const dir = tempDir();
    const names = ['plain.c', 'a b.c', 'evil\nname.c', 'q"b\\s\t\x01\x7f.c', 'caf\u00e9.c', '\u{1f600}.c'].map((n) => Buffer.from(n));
    names.push(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x63]), Buffer.from([0xff, 0x80, 0xc3, 0xa9, 0xed, 0xa0, 0x80, 0x2e, 0x68]));
    for (const n of names) fs.writeFileSync(Buffer.concat([Buffer.from(dir + '/'), n]), '');
    const git = (...args: string[]) => spawnSync('git', ['-c', 'core.quotePath=true', ...args], { cwd: dir, encoding: 'latin1' });
    expect(git('init', '-q').status).toBe(0);
    expect(git('add', '-A').status).toBe(0);
    const listed = git('ls-files').stdout.split('\n').filter(Boolean).sort();
    expect(names.map((n) => quotePath(nameFromBytes(n))).sort()).toEqual(listed);
    for (const n of names) {
      const name = nameFromBytes(n);
      expect(nameBytes(name).equals(n)).toBe(true);
      expect(unquotePath(quotePath(name))).toEqual({ name, length: quotePath(name).length });
    }
  });
});

// ---------------------------------------------------------------------------
// --write

describe('--write: atomic, and never over a file changed since it was read', () => {
  it('writeAtomic: a temporary file in the same directory, renamed over the file; mode, owner and group kept; nothing left', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'f.c');
    fs.writeFileSync(file, latin1(GOOD.input), { mode: 0o640 });
    fs.chmodSync(file, 0o640);
    if (AS_ROOT) fs.chownSync(file, NOBODY, NOBODY);
    const ino = fs.statSync(file).ino;
    const rename = vi.spyOn(fs.promises, 'rename');
    expect(await writeAtomic(file, latin1(GOOD.input), GOOD.expected)).toBeNull();
    expect(rename).toHaveBeenCalledTimes(1);
    const [from, to] = rename.mock.calls[0]!.map(String);
    expect(to).toBe(file);
    expect(path.dirname(from!)).toBe(dir);
    expect(path.basename(from!)).toMatch(TEMP_FILE);
    const st = fs.statSync(file);
    expect(st.ino).not.toBe(ino);
    expect(st.mode & 0o7777).toBe(0o640);
    if (AS_ROOT) expect([st.uid, st.gid]).toEqual([NOBODY, NOBODY]);
    expect(fs.readFileSync(file, 'latin1')).toBe(GOOD.expected);
    expect(fs.readdirSync(dir)).toEqual(['f.c']);
  });

  it('writeAtomic: a file whose content changed since it was read is not overwritten, and says so', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'f.c');
    const edited = GOOD.input.replace('int ret;', 'int ret; /* edited meanwhile */');
    fs.writeFileSync(file, latin1(edited));
    const st = stamp(file);
    expect(await writeAtomic(file, latin1(GOOD.input), GOOD.expected)).toBe('changed on disk since it was read; not overwritten');
    expect(stamp(file)).toEqual(st);
    // Same size, one byte different: content is compared, not size or time.
    const flipped = GOOD.input.replace('int ret;', 'int rex;');
    fs.writeFileSync(file, latin1(flipped));
    expect(await writeAtomic(file, latin1(GOOD.input), GOOD.expected)).toMatch(/changed on disk/);
    expect(fs.readFileSync(file, 'latin1')).toBe(flipped);
    // Gone meanwhile: reported, not created.
    fs.rmSync(file);
    expect(await writeAtomic(file, latin1(GOOD.input), GOOD.expected)).toBe('no such file or directory');
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('run({ write }): a file edited between its read and the write is reported and keeps the edit; the others are written', async () => {
    const tree = path.join(tempDir(), 'tree');
    const files: Record<string, string> = {};
    for (let i = 0; i < 40; i++) files[`f${String(i).padStart(2, '0')}.c`] = GOOD.input;
    writeTree(tree, files);
    const edited = GOOD.input.replace('int ret;', 'int ret; /* edited meanwhile */');
    let calls = 0;
    const r = await run({
      paths: ['.'],
      cwd: tree,
      jobs: 0,
      write: true,
      // f00.c has been read by the first progress report: edit it.
      onProgress: () => {
        if (calls++ === 0) fs.writeFileSync(path.join(tree, 'f00.c'), latin1(edited));
      },
    });
    expect(r.problems).toEqual([{ path: 'f00.c', reason: 'changed on disk since it was read; not overwritten' }]);
    expect(fs.readFileSync(path.join(tree, 'f00.c'), 'latin1')).toBe(edited);
    for (const f of Object.keys(files)) if (f !== 'f00.c') expect(fs.readFileSync(path.join(tree, f), 'latin1'), f).toBe(GOOD.expected);
    expect(listFiles(tree).filter((f) => TEMP_FILE.test(f))).toEqual([]);
  });

  it('--write into a read-only directory fails cleanly: named on stderr, exit 2, the original intact, no temporary file', () => {
    const top = tempDir();
    const tree = path.join(top, 'tree');
    writeTree(tree, { 'ro/a.c': GOOD.input, 'rw/b.c': GOOD.input });
    if (AS_ROOT) {
      // Root writes anywhere: nobody runs the tool, owning rw/ only.
      openTo(top);
      fs.chownSync(path.join(tree, 'rw'), NOBODY, NOBODY);
      fs.chownSync(path.join(tree, 'rw/b.c'), NOBODY, NOBODY);
      // nobody may write a.c itself, just not its directory.
      fs.chmodSync(path.join(tree, 'ro/a.c'), 0o666);
    } else {
      fs.chmodSync(path.join(tree, 'ro'), 0o555);
    }
    const before = stamp(path.join(tree, 'ro/a.c'));
    const r = gupmod(['-C', tree, '-q', '--write', '.'], AS_ROOT ? { uid: NOBODY } : {});
    expect(messages(r.stderr)).toEqual({ 'ro/a.c': 'permission denied' });
    expect(r.status).toBe(2);
    expect(stamp(path.join(tree, 'ro/a.c'))).toEqual(before);
    expect(fs.readFileSync(path.join(tree, 'rw/b.c'), 'latin1')).toBe(GOOD.expected);
    expect(listFiles(tree).filter((f) => TEMP_FILE.test(f))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// Reproducers of the bugs the fuzzer found (test/fuzz.test.ts)

describe('fuzz reproducers', () => {
  it('count-check: `goto /* comment */ label;` still reaches its label: the label and its release stay', () => {
    // Seed 2, iteration 6926: the label and its kfree went, leaving the goto undefined.
    const c = PAIRS.find((x) => x.transform === 'count-check' && x.name === 'zero-maps-efault-if')!;
    const input = c.input.replace('goto out_free;', 'goto /* fuzz */out_free;');
    const expected = c.expected.replace('goto out_free;', 'goto /* fuzz */out_free;');
    expect(input).not.toBe(c.input);
    expect(processText('x.c', input, TRANSFORMS).output).toBe(expected);
  });

  it('count-check: a call inside `#if 0` whose label lies outside it is left for review, not rewritten', () => {
    // Seed 3, iteration 398: the label err_unpin and its release, compiled in
    // every configuration, went with a pin only the `#if 0` branch holds
    // (gcc: `pinned` now unused).
    const c = PAIRS.find((x) => x.transform === 'count-check' && x.name === 'goto-label-next-label')!;
    const call = '\tpinned = pin_user_pages_fast(';
    const input = c.input.replace(call, `#if 0\n${call}`).replace('\t\tgoto err_unpin;\n\t}\n', '\t\tgoto err_unpin;\n\t}\n#endif\n');
    expect(input.match(/^#(if 0|endif)$/gm)).toEqual(['#if 0', '#endif']);
    const r = processText('x.c', input, TRANSFORMS);
    expect(r.output).toBeUndefined();
    expect(r.sites.map((s) => [s.action, s.reason])).toEqual([['review', 'its edits reach across an #if/#ifdef branch boundary from the call']]);
    // A function wholly inside one #ifdef is rewritten as usual.
    const wrap = (s: string) => s.replace('int cbuf_attach(', '#ifdef CONFIG_CBUF\nint cbuf_attach(').replace('\treturn ret;\n}\n', '\treturn ret;\n}\n#endif\n');
    expect(processText('x.c', wrap(c.input), TRANSFORMS).output).toBe(wrap(c.expected));
  });

  it('retry-loop: a goto the parser cannot read (a macro before it on its line) still needs its label: the rewrite is dropped', () => {
    // Seed 6, iteration 432: `dev_err(...); BAR` made `goto err_unpin;` part
    // of an ERROR node; the label and its release went, the goto stayed.
    const c = PAIRS.find((x) => x.transform === 'retry-loop' && x.name === 'goto-shared-label-next-label')!;
    const input = c.input.replace(/(dev_err\(cam->dev, "cannot queue frame: %ld\\n", ret\);)/, '$1 BAR');
    expect(input).not.toBe(c.input);
    const r = processText('x.c', input, TRANSFORMS);
    expect(r.output).toBeUndefined();
    expect(r.sites.map((s) => [s.action, s.reason])).toEqual([['review', 'rewrite dropped: the rewrite would leave goto err_unpin without its label']]);
  });

  it('count-check: a GUP statement the parser glues to a macro ending the line before is left for review', () => {
    // Seed 6, iteration 4419: `return -ENOMEM; BAR` + `ret = gup(...)` parse
    // as the declaration `BAR ret = gup(...)`; the call was printed at the end
    // of the `if (!pages) return -ENOMEM;` line.
    const c = PAIRS.find((x) => x.transform === 'count-check' && x.name === 'leak-return-efault')!;
    const input = c.input.replace('return -ENOMEM;\n', 'return -ENOMEM; BAR\n');
    expect(input).not.toBe(c.input);
    const r = processText('x.c', input, TRANSFORMS);
    expect(r.output).toBeUndefined();
    expect(r.sites.map((s) => [s.action, s.reason])).toEqual([
      ['review', 'the statement holding the GUP call shares its line with code before it (a macro the parser does not know?)'],
    ]);
  });

  it('verify drops a rewrite that leaves a goto without its label', () => {
    const before = 'int f(int a)\n{\n\tif (a)\n\t\tgoto out;\n\treturn 0;\nout:\n\treturn a;\n}\n';
    const after = 'int f(int a)\n{\n\tif (a)\n\t\tgoto out;\n\treturn 0;\n}\n';
    const none = { ...TRANSFORMS[0]!, match: () => [] };
    expect(verifyRewrite(parse('x.c', before), after, 0, [], none).reason).toBe('the rewrite would leave goto out without its label');
  });
});
