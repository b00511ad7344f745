/**
 * Walk the given paths for .c and .h files. A symlink to a file inside the
 * tree stands for its target (listed once, by real path); a symlink to a
 * directory inside the tree is skipped, its files being walked already, so no
 * loop can form; a symlink out of the tree is reported and not followed.
 */
import * as fs from 'node:fs';
import type { Dirent } from 'node:fs';
import * as path from 'node:path';
import { isUtf8, nameFromBytes } from './quote.js';

export interface FileProblem {
  path: string;
  reason: string;
}

export interface WalkResult {
  files: string[];
  problems: FileProblem[];
}

const SKIP_DIRS = new Set(['.git', 'node_modules']);

/**
 * Files under `paths` (relative to `cwd`), sorted, as absolute paths.
 *
 * One `readdir` (with file types) per directory and no per-file stat: a
 * whole-kernel walk is ~5k directory reads.
 */
export async function walkPaths(paths: string[], cwd: string): Promise<WalkResult> {
  return walkPathsSync(paths, cwd);
}

/** `walkPaths`, synchronous. */
export function walkPathsSync(paths: string[], cwd: string): WalkResult {
  const w = new Walker(paths, cwd);
  return { files: w.take(Infinity).sort(), problems: w.problems };
}

interface Root {
  /** The walked directory as given. */
  base: string;
  /** Its real path. */
  real: string;
}

/** A directory being read: its sorted entries and how far the walk is. */
interface Frame {
  dir: string;
  prefix: string;
  root: Root;
  entries: Dirent[];
  next: number;
  /** Decoded names holding U+FFFD already looked at as bytes. */
  odd?: Set<string>;
}

/**
 * The walk, a directory at a time: `take(n)` walks on until it has found `n`
 * more files (or the walk is over) and returns them, so that run() can hand
 * files to the workers while the walk goes on. Depth first, each directory's
 * entries in name order: the order of the files and of the problems is
 * fixed, and a file reached twice (by its name and through a symlink) is
 * returned once.
 */
export class Walker {
  readonly problems: FileProblem[] = [];
  private readonly seen = new Set<string>();
  private readonly stack: Frame[] = [];
  private readonly pending: string[];
  private found: string[] = [];

  constructor(
    paths: string[],
    private readonly cwd: string,
  ) {
    this.pending = [...paths].reverse();
  }

  /** The walk is over. */
  get done(): boolean {
    return this.stack.length === 0 && this.pending.length === 0;
  }

  /** Up to `n` more files (fewer only when the walk is over). */
  take(n: number): string[] {
    this.found = [];
    while (this.found.length < n) {
      const top = this.stack[this.stack.length - 1];
      if (top) {
        if (top.next === top.entries.length) this.stack.pop();
        else this.entry(top, top.entries[top.next++]!);
      } else if (this.pending.length) {
        this.start(this.pending.pop()!);
      } else {
        break;
      }
    }
    return this.found;
  }

  private add(file: string): void {
    if (this.seen.has(file)) return;
    this.seen.add(file);
    this.found.push(file);
  }

  /** A path given on the command line. */
  private start(p: string): void {
    const abs = path.resolve(this.cwd, p);
    let st;
    try {
      st = fs.statSync(abs);
    } catch (e) {
      // Node decodes the command line as UTF-8: the bytes of such a name are lost.
      const bad = abs.includes('\ufffd') && (e as NodeJS.ErrnoException).code === 'ENOENT';
      this.problems.push({ path: abs, reason: bad ? 'no such file or directory; a name that is not UTF-8 reaches gupmod decoded, its bytes lost: give its directory instead' : errText(e) });
      return;
    }
    if (st.isFile()) {
      this.add(abs);
      return;
    }
    if (!st.isDirectory()) return;
    let real: string;
    try {
      real = fs.realpathSync(abs);
    } catch (e) {
      this.problems.push({ path: abs, reason: errText(e) });
      return;
    }
    this.enter(abs, { base: abs, real });
  }

  /** Read a directory; its entries are walked next. */
  private enter(dir: string, root: Root): void {
    let entries: Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      this.problems.push({ path: dir, reason: errText(e) });
      return;
    }
    entries.sort(byName);
    this.stack.push({ dir, prefix: dir.endsWith(path.sep) ? dir : dir + path.sep, root, entries, next: 0 });
  }

  private entry(f: Frame, ent: Dirent): void {
    const name = ent.name;
    // readdir decodes names as UTF-8, a byte that is not UTF-8 as U+FFFD:
    // such a name is no file's. Only then is the directory read again.
    if (name.includes('\ufffd') && wanted(ent)) {
      if (f.odd?.has(name)) return; // one more entry of the same decoded name: done with the first
      (f.odd ??= new Set()).add(name);
      this.visitOdd(f, name);
      return;
    }
    this.visit(ent, f.prefix, name, f.root);
  }

  private visit(ent: Dirent<string | Buffer>, prefix: string, name: string, root: Root): void {
    if (ent.isFile()) {
      if (isSource(name)) this.add(prefix + name);
    } else if (ent.isDirectory()) {
      if (SKIP_DIRS.has(name)) return;
      this.enter(prefix + name, root);
    } else if (ent.isSymbolicLink()) {
      this.followLink(prefix + name, name, root);
    }
  }

  /**
   * The entries of the frame's directory whose UTF-8 decoding is `name`, a
   * name holding U+FFFD: read again as bytes. One that is UTF-8 (a real
   * U+FFFD) is walked as any other; one that is not cannot be opened by its
   * decoded name, and is reported under its bytes (see src/quote.ts), not
   * walked.
   */
  private visitOdd(f: Frame, name: string): void {
    let raw: Dirent<Buffer>[];
    try {
      raw = fs.readdirSync(f.dir, { withFileTypes: true, encoding: 'buffer' });
    } catch (e) {
      this.problems.push({ path: f.prefix + name, reason: errText(e) });
      return;
    }
    const same = raw.filter((r) => r.name.toString('utf8') === name).sort((a, b) => Buffer.compare(a.name, b.name));
    if (same.length === 0) this.problems.push({ path: f.prefix + name, reason: 'name is not UTF-8; skipped (rename it to process it)' });
    // Directories among them are entered last first, so that they are walked in name order.
    const dirs: Array<() => void> = [];
    for (const r of same) {
      if (isUtf8(r.name)) {
        if (r.isDirectory()) dirs.push(() => this.visit(r, f.prefix, name, f.root));
        else this.visit(r, f.prefix, name, f.root);
      } else if (wanted(r)) {
        const what = r.isDirectory() ? 'directory' : r.isFile() ? 'file' : 'symlink';
        this.problems.push({ path: f.prefix + nameFromBytes(r.name), reason: `${what} name is not UTF-8; skipped (rename it to process it)` });
      }
    }
    for (const d of dirs.reverse()) d();
  }

  private followLink(full: string, name: string, root: Root): void {
    let real: string;
    try {
      real = fs.realpathSync(full);
    } catch (e) {
      this.problems.push({ path: full, reason: linkTargetNotUtf8(full) ? 'symlink target name is not UTF-8; not followed' : `dangling symlink (${errText(e)})` });
      return;
    }
    if (real !== root.real && !real.startsWith(root.real + path.sep)) {
      this.problems.push({ path: full, reason: 'symlink points out of the tree; not followed' });
      return;
    }
    let st;
    try {
      st = fs.statSync(real);
    } catch (e) {
      this.problems.push({ path: full, reason: errText(e) });
      return;
    }
    if (st.isDirectory()) {
      // Inside the tree: its files are walked under their real path already.
      return;
    } else if (st.isFile() && isSource(name)) {
      // Listed under its link name; the target in the tree is listed too, which
      // would edit one file twice: keep only the real path.
      this.add(path.join(root.base, path.relative(root.real, real)));
    }
  }
}

/** `name` ends in `.c` or `.h`. */
function isSource(name: string): boolean {
  const n = name.length;
  if (n < 2 || name.charCodeAt(n - 2) !== 46 /* . */) return false;
  const c = name.charCodeAt(n - 1);
  return c === 99 /* c */ || c === 104 /* h */;
}

function byName(a: Dirent, b: Dirent): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** An entry the walk would look at: a source file, a directory it enters, a symlink. */
function wanted(ent: Dirent<string | Buffer>): boolean {
  return ent.isFile() ? isSource(String(ent.name)) : ent.isDirectory() || ent.isSymbolicLink();
}

/** The target of the symlink `full`, as bytes, is not UTF-8 (asked only when following it failed). */
function linkTargetNotUtf8(full: string): boolean {
  try {
    return !isUtf8(fs.readlinkSync(full, { encoding: 'buffer' }));
  } catch {
    return false;
  }
}

export function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err && err.code) {
    const map: Record<string, string> = {
      ENOENT: 'no such file or directory',
      EACCES: 'permission denied',
      EISDIR: 'is a directory',
      ELOOP: 'too many levels of symbolic links',
    };
    return map[err.code] ?? `${err.code}: ${err.message}`;
  }
  return String((e as Error)?.message ?? e);
}

/** Path relative to cwd with `/` separators and no leading `./`. */
export function displayPath(cwd: string, abs: string): string {
  const rel = path.relative(cwd, abs) || path.basename(abs);
  return path.sep === '/' ? rel : rel.split(path.sep).join('/');
}
