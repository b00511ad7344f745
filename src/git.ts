/**
 * Small wrappers around the git command, for `gupmod format-patch`: the
 * author identity, the subject prefixes of recent commits touching files,
 * the commit a fix fixes, and the base commit. Each runs git synchronously
 * in the tree and answers `null` (or nothing) when git is absent, the tree
 * is not a repository, or the question has no answer. Output is kept as
 * latin1 strings holding the raw bytes, like the rest of gupmod.
 */
import { spawnSync } from 'node:child_process';
import { nameFromBytes } from './quote.js';

/** A path git printed (unquoted: -z or rev-parse), as raw bytes in a latin1 string, as a name. */
function nameOf(bytes: string): string {
  return nameFromBytes(Buffer.from(bytes, 'latin1'));
}

export interface GitRun {
  ok: boolean;
  stdout: string;
  stderr: string;
}

/** `git -C cwd args...`; stdout and stderr as latin1 strings (raw bytes). */
export function git(cwd: string, args: string[], input?: string): GitRun {
  const r = spawnSync('git', ['-C', cwd, ...args], {
    encoding: 'latin1',
    input,
    maxBuffer: 256 << 20,
    // No pager, no prompt, the C locale for stable messages.
    env: { ...process.env, GIT_PAGER: 'cat', GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' },
  });
  if (r.error) return { ok: false, stdout: '', stderr: r.error.message };
  return { ok: r.status === 0, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export interface RepoInfo {
  /** Absolute path of the work tree's top level. */
  top: string;
  /** Path of `cwd` inside the repository, '' or ending in '/' (git rev-parse --show-prefix). */
  prefix: string;
}

/** The repository `cwd` is in, or null when it is not in a git work tree. */
export function repoInfo(cwd: string): RepoInfo | null {
  const r = git(cwd, ['rev-parse', '--show-toplevel', '--show-prefix']);
  if (!r.ok) return null;
  const [top, prefix = ''] = r.stdout.split('\n');
  if (!top) return null;
  // Paths as names (src/quote.ts), as the walk gives them, not as raw bytes.
  return { top: nameOf(top), prefix: nameOf(prefix) };
}

/** git config user.name and user.email as seen from `cwd` (repository, global, system), or null. */
export function gitIdentity(cwd: string): { name: string; email: string } | null {
  const name = git(cwd, ['config', 'user.name']);
  const email = git(cwd, ['config', 'user.email']);
  if (!name.ok || !email.ok) return null;
  const n = name.stdout.trim();
  const e = email.stdout.trim();
  return n && e ? { name: n, email: e } : null;
}

/** Subjects of the last `max` non-merge commits touching any of `paths` (relative to `cwd`), newest first. */
export function recentSubjects(cwd: string, paths: string[], max = 100): string[] {
  if (paths.length === 0) return [];
  const r = git(cwd, ['log', '--no-merges', `-n${max}`, '--format=%s', '--', ...paths]);
  if (!r.ok) return [];
  return r.stdout.split('\n').filter((s) => s.length > 0);
}

/**
 * The subsystem prefix of a subject: its leading run of `word:` tokens
 * (`drm/etnaviv:`, `media: ivtv:`, `RDMA/qib:`, `mm, gup:`), or null.
 */
export function subjectPrefix(subject: string): { prefix: string; rest: string } | null {
  const m = /^((?:[A-Za-z0-9_][\w./+-]*(?:, [A-Za-z0-9_][\w./+-]*)*: )+)(.*)$/.exec(subject);
  if (!m || !m[2]) return null;
  return { prefix: m[1].trimEnd(), rest: m[2] };
}

/**
 * The prefix most used in `subjects` (ties go to the most recent), and
 * whether the word after it is usually capitalised; null when no subject
 * has a prefix.
 */
export function mostUsedPrefix(subjects: string[]): { prefix: string; capitalised: boolean } | null {
  const counts = new Map<string, { n: number; first: number; upper: number }>();
  subjects.forEach((s, i) => {
    const p = subjectPrefix(s);
    if (!p) return;
    const c = counts.get(p.prefix) ?? { n: 0, first: i, upper: 0 };
    c.n++;
    if (/^[A-Z][a-z]/.test(p.rest)) c.upper++;
    counts.set(p.prefix, c);
  });
  let best: [string, { n: number; first: number; upper: number }] | null = null;
  for (const e of counts) {
    if (!best || e[1].n > best[1].n || (e[1].n === best[1].n && e[1].first < best[1].first)) best = e;
  }
  if (!best) return null;
  return { prefix: best[0], capitalised: best[1].upper * 2 > best[1].n };
}

export interface CommitRef {
  hash: string;
  subject: string;
}

/**
 * The commit that introduced line `line` of `path` as it is in HEAD: the
 * oldest commit in `git log -L line,line:path` (which follows the line
 * through later edits). This is what a `Fixes:` trailer names for a bug
 * that has been there since the code was written.
 */
export function introducingCommit(cwd: string, path: string, line: number): CommitRef | null {
  const r = git(cwd, ['log', `-L${line},${line}:${path}`, '--no-patch', '--format=%H%x09%s']);
  if (!r.ok) return null;
  const rows = r.stdout.split('\n').filter((l) => /^[0-9a-f]{40}\t/.test(l));
  if (rows.length === 0) return null;
  const last = rows[rows.length - 1];
  const tab = last.indexOf('\t');
  return { hash: last.slice(0, tab), subject: last.slice(tab + 1) };
}

/** `Fixes: <12-hex> ("subject")`, the form scripts/checkpatch.pl asks for. */
export function fixesTrailer(c: CommitRef): string {
  return `Fixes: ${c.hash.slice(0, 12)} ("${c.subject}")`;
}

/** The commit HEAD points to, or null. */
export function headCommit(cwd: string): string | null {
  const r = git(cwd, ['rev-parse', '--verify', '-q', 'HEAD']);
  return r.ok ? r.stdout.trim() || null : null;
}

/** Blob ids in HEAD of `paths` (relative to `cwd`), keyed by the path as given; missing paths are absent. */
export function headBlobs(cwd: string, paths: string[]): Map<string, string> {
  const out = new Map<string, string>();
  if (paths.length === 0) return out;
  const r = git(cwd, ['ls-tree', '-z', 'HEAD', '--', ...paths]);
  if (!r.ok) return out;
  // "<mode> blob <id>\t<path relative to cwd>\0"
  for (const rec of r.stdout.split('\0')) {
    const m = /^\d+ blob ([0-9a-f]{40})\t(.*)$/s.exec(rec);
    if (m) out.set(nameOf(m[2]!), m[1]!);
  }
  return out;
}
