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
 * whole-kernel walk is ~5k directory reads. The walk is synchronous: it is a
 * small part of a run and it runs while the worker threads start.
 */
export async function walkPaths(paths: string[], cwd: string): Promise<WalkResult> {
  return walkPathsSync(paths, cwd);
}

/**
 * `walkPaths`, synchronous. `onFile`, when given, is called with the number
 * of files found so far each time one is found (run() starts its worker
 * threads during the walk once a tree proves large).
 */
export function walkPathsSync(paths: string[], cwd: string, onFile?: (count: number) => void): WalkResult {
  const files = new FileSet(onFile);
  const problems: FileProblem[] = [];
  for (const p of paths) {
    const abs = path.resolve(cwd, p);
    let st;
    try {
      st = fs.statSync(abs);
    } catch (e) {
      // Node decodes the command line as UTF-8: the bytes of such a name are lost.
      const bad = abs.includes('\ufffd') && (e as NodeJS.ErrnoException).code === 'ENOENT';
      problems.push({ path: abs, reason: bad ? 'no such file or directory; a name that is not UTF-8 reaches gupmod decoded, its bytes lost: give its directory instead' : errText(e) });
      continue;
    }
    if (st.isFile()) {
      files.add(abs);
      continue;
    }
    if (!st.isDirectory()) continue;
    let root: string;
    try {
      root = fs.realpathSync(abs);
    } catch (e) {
      problems.push({ path: abs, reason: errText(e) });
      continue;
    }
    walkDir(abs, { base: abs, real: root }, files, problems);
  }
  return { files: [...files].sort(), problems };
}

/** The files found, in a Set, with the onFile hook. */
class FileSet extends Set<string> {
  constructor(private readonly onFile?: (count: number) => void) {
    super();
  }
  override add(file: string): this {
    super.add(file);
    this.onFile?.(this.size);
    return this;
  }
}

interface Root {
  /** The walked directory as given. */
  base: string;
  /** Its real path. */
  real: string;
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

function walkDir(dir: string, root: Root, files: Set<string>, problems: FileProblem[]): void {
  let entries: Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    problems.push({ path: dir, reason: errText(e) });
    return;
  }
  // Sorted so that problems come in a stable order; the file list is sorted again at the end.
  entries.sort(byName);
  const prefix = dir.endsWith(path.sep) ? dir : dir + path.sep;
  let odd: Set<string> | undefined;
  for (const ent of entries) {
    const name = ent.name;
    // readdir decodes names as UTF-8, a byte that is not UTF-8 as U+FFFD:
    // such a name is no file's. Only then is the directory read again.
    if (name.includes('\ufffd') && wanted(ent)) {
      if (odd?.has(name)) continue; // one more entry of the same decoded name: done below
      (odd ??= new Set()).add(name);
      visitOdd(dir, prefix, name, root, files, problems);
      continue;
    }
    visit(ent, prefix, name, root, files, problems);
  }
}

/** An entry the walk would look at: a source file, a directory it enters, a symlink. */
function wanted(ent: Dirent<string | Buffer>): boolean {
  return ent.isFile() ? isSource(String(ent.name)) : ent.isDirectory() || ent.isSymbolicLink();
}

function visit(ent: Dirent<string | Buffer>, prefix: string, name: string, root: Root, files: Set<string>, problems: FileProblem[]): void {
  if (ent.isFile()) {
    if (isSource(name)) files.add(prefix + name);
  } else if (ent.isDirectory()) {
    if (SKIP_DIRS.has(name)) return;
    walkDir(prefix + name, root, files, problems);
  } else if (ent.isSymbolicLink()) {
    followLink(prefix + name, name, root, files, problems);
  }
}

/**
 * The entries of `dir` whose UTF-8 decoding is `name`, a name holding U+FFFD:
 * read again as bytes. One that is UTF-8 (a real U+FFFD) is walked as any
 * other; one that is not cannot be opened by its decoded name, and is
 * reported under its bytes (see src/quote.ts), not walked.
 */
function visitOdd(dir: string, prefix: string, name: string, root: Root, files: Set<string>, problems: FileProblem[]): void {
  let raw: Dirent<Buffer>[];
  try {
    raw = fs.readdirSync(dir, { withFileTypes: true, encoding: 'buffer' });
  } catch (e) {
    problems.push({ path: prefix + name, reason: errText(e) });
    return;
  }
  const same = raw.filter((r) => r.name.toString('utf8') === name).sort((a, b) => Buffer.compare(a.name, b.name));
  if (same.length === 0) problems.push({ path: prefix + name, reason: 'name is not UTF-8; skipped (rename it to process it)' });
  for (const r of same) {
    if (isUtf8(r.name)) {
      visit(r, prefix, name, root, files, problems);
    } else if (wanted(r)) {
      const what = r.isDirectory() ? 'directory' : r.isFile() ? 'file' : 'symlink';
      problems.push({ path: prefix + nameFromBytes(r.name), reason: `${what} name is not UTF-8; skipped (rename it to process it)` });
    }
  }
}

function followLink(full: string, name: string, root: Root, files: Set<string>, problems: FileProblem[]): void {
  let real: string;
  try {
    real = fs.realpathSync(full);
  } catch (e) {
    problems.push({ path: full, reason: linkTargetNotUtf8(full) ? 'symlink target name is not UTF-8; not followed' : `dangling symlink (${errText(e)})` });
    return;
  }
  if (real !== root.real && !real.startsWith(root.real + path.sep)) {
    problems.push({ path: full, reason: 'symlink points out of the tree; not followed' });
    return;
  }
  let st;
  try {
    st = fs.statSync(real);
  } catch (e) {
    problems.push({ path: full, reason: errText(e) });
    return;
  }
  if (st.isDirectory()) {
    // Inside the tree: its files are walked under their real path already.
    return;
  } else if (st.isFile() && isSource(name)) {
    // Listed under its link name; the target in the tree is listed too, which
    // would edit one file twice: keep only the real path.
    files.add(path.join(root.base, path.relative(root.real, real)));
  }
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
