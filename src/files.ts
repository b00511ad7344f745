/**
 * Walk the given paths for .c and .h files. A symlink to a file inside the
 * tree stands for its target (listed once, by real path); a symlink to a
 * directory inside the tree is skipped, its files being walked already, so no
 * loop can form; a symlink out of the tree is reported and not followed.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export interface FileProblem {
  path: string;
  reason: string;
}

export interface WalkResult {
  files: string[];
  problems: FileProblem[];
}

const SOURCE = /\.[ch]$/;
const SKIP_DIRS = new Set(['.git', 'node_modules']);

/** Files under `paths` (relative to `cwd`), sorted, as absolute paths. */
export async function walkPaths(paths: string[], cwd: string): Promise<WalkResult> {
  const files = new Set<string>();
  const problems: FileProblem[] = [];
  for (const p of paths) {
    const abs = path.resolve(cwd, p);
    let st;
    try {
      st = await fs.stat(abs);
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
      root = await fs.realpath(abs);
    } catch (e) {
      problems.push({ path: abs, reason: errText(e) });
      continue;
    }
    await walkDir(abs, { base: abs, real: root }, files, problems);
  }
  return { files: [...files].sort(), problems };
}

interface Root {
  /** The walked directory as given. */
  base: string;
  /** Its real path. */
  real: string;
}

async function walkDir(dir: string, root: Root, files: Set<string>, problems: FileProblem[]): Promise<void> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (e) {
    problems.push({ path: dir, reason: errText(e) });
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const ent of entries) {
    const full = path.join(dir, ent.name);
    if (ent.isDirectory()) {
      if (SKIP_DIRS.has(ent.name)) continue;
      await walkDir(full, root, files, problems);
    } else if (ent.isFile()) {
      if (SOURCE.test(ent.name)) files.add(full);
    } else if (ent.isSymbolicLink()) {
      await followLink(full, ent.name, root, files, problems);
    }
  }
}

async function followLink(full: string, name: string, root: Root, files: Set<string>, problems: FileProblem[]): Promise<void> {
  let real: string;
  try {
    real = await fs.realpath(full);
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
    st = await fs.stat(real);
  } catch (e) {
    problems.push({ path: full, reason: errText(e) });
    return;
  }
  if (st.isDirectory()) {
    // Inside the tree: its files are walked under their real path already.
    return;
  } else if (st.isFile() && SOURCE.test(name)) {
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
