/**
 * gupmod's public API: `run(options)` walks, prefilters, parses, matches,
 * rewrites and verifies, and returns what it found. It never prints.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TRANSFORMS } from '../transforms/index.js';
import { GUP_TRIGGERS } from '../transforms/gup-api.js';
import { processText, type FileResult } from './engine.js';
import { errText, walkPaths, type FileProblem } from './files.js';
import { Prefilter } from './prefilter.js';
import type { Site, Transform } from './types.js';
import { writeAtomic } from './write.js';

export type { Site, Edit, Transform, Category, Action } from './types.js';
export type { FileResult } from './engine.js';
export type { FileProblem } from './files.js';
export { TRANSFORMS } from '../transforms/index.js';
export { processText } from './engine.js';

export interface RunOptions {
  paths: string[];
  /** Directory paths are resolved and printed relative to. */
  cwd: string;
  /** Transform ids to run (all when empty). */
  transforms?: string[];
  write?: boolean;
  /** Parse every file, not only those holding a trigger name (for measurement). */
  noPrefilter?: boolean;
  /** Called after each file, for a progress line. */
  onProgress?: (p: Progress) => void;
}

export interface Progress {
  scanned: number;
  total: number;
  candidates: number;
  sites: number;
}

export interface ChangedFile {
  /** Display path (relative to cwd, `/` separators). */
  path: string;
  absPath: string;
  before: string;
  after: string;
}

export interface RunResult {
  sites: Site[];
  changed: ChangedFile[];
  problems: FileProblem[];
  scanned: number;
  candidates: number;
}

export function selectTransforms(ids: string[] | undefined): Transform<any>[] {
  if (!ids || ids.length === 0) return [...TRANSFORMS];
  const out: Transform<any>[] = [];
  for (const id of ids) {
    const t = TRANSFORMS.find((x) => x.meta.id === id);
    if (!t) throw new UsageError(`unknown transform '${id}' (see gupmod list-transforms)`);
    out.push(t);
  }
  return out;
}

export class UsageError extends Error {}

/** Path relative to cwd with `/` separators and no leading `./`. */
export function displayPath(cwd: string, abs: string): string {
  const rel = path.relative(cwd, abs) || path.basename(abs);
  return rel.split(path.sep).join('/');
}

export async function run(opts: RunOptions): Promise<RunResult> {
  const transforms = selectTransforms(opts.transforms);
  const triggers = GUP_TRIGGERS;
  const prefilter = new Prefilter(triggers);
  const walked = await walkPaths(opts.paths, opts.cwd);
  const problems: FileProblem[] = walked.problems.map((p) => ({ path: displayPath(opts.cwd, p.path), reason: p.reason }));
  const results: FileResult[] = [];
  const originals = new Map<string, { abs: string; bytes: Buffer }>();
  let candidates = 0;
  let siteCount = 0;
  let scanned = 0;
  for (const abs of walked.files) {
    const shown = displayPath(opts.cwd, abs);
    scanned++;
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(abs);
    } catch (e) {
      problems.push({ path: shown, reason: errText(e) });
      continue;
    }
    if (!opts.noPrefilter && !prefilter.matches(bytes)) continue;
    candidates++;
    if (bytes.includes(0)) {
      problems.push({ path: shown, reason: 'binary file (holds NUL bytes); skipped' });
      continue;
    }
    const r = processText(shown, bytes.toString('latin1'), transforms);
    if (r.error) problems.push({ path: shown, reason: r.error });
    siteCount += r.sites.length;
    results.push(r);
    if (r.output !== undefined) originals.set(shown, { abs, bytes });
    opts.onProgress?.({ scanned, total: walked.files.length, candidates, sites: siteCount });
  }
  const changed: ChangedFile[] = [];
  for (const r of results) {
    if (r.output === undefined) continue;
    const o = originals.get(r.path)!;
    changed.push({ path: r.path, absPath: o.abs, before: o.bytes.toString('latin1'), after: r.output });
  }
  if (opts.write) {
    for (const c of changed) {
      const err = await writeAtomic(c.absPath, originals.get(c.path)!.bytes, c.after);
      if (err) problems.push({ path: c.path, reason: err });
    }
  }
  return {
    sites: results.flatMap((r) => r.sites),
    changed,
    problems,
    scanned,
    candidates,
  };
}
