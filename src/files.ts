/**
 * Walk the given paths for .c and .h files. A symlink to a file inside the
 * tree stands for its target (listed once, by real path); a symlink to a
 * directory inside the tree is skipped, its files being walked already, so no
 * loop can form; a symlink out of the tree is reported and not followed.
 */
import * as fs from 'node:fs';
import type { Dirent } from 'node:fs';
import * as path from 'node:path';

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
      problems.push({ path: abs, reason: errText(e) });
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
  for (const ent of entries) {
    const name = ent.name;
    if (ent.isFile()) {
      if (isSource(name)) files.add(prefix + name);
    } else if (ent.isDirectory()) {
      if (SKIP_DIRS.has(name)) continue;
      walkDir(prefix + name, root, files, problems);
    } else if (ent.isSymbolicLink()) {
      followLink(prefix + name, name, root, files, problems);
    }
  }
}

function followLink(full: string, name: string, root: Root, files: Set<string>, problems: FileProblem[]): void {
  let real: string;
  try {
    real = fs.realpathSync(full);
  } catch (e) {
    problems.push({ path: full, reason: `dangling symlink (${errText(e)})` });
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
