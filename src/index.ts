/**
 * gupmod's public API: `run(options)` walks, prefilters, parses, matches,
 * rewrites and verifies, and returns what it found. It never prints.
 */
import { statSync } from 'node:fs';
import * as os from 'node:os';
import { TRANSFORMS } from '../transforms/index.js';
import { GUP_TRIGGERS } from '../transforms/gup-api.js';
import type { FileResult } from './engine.js';
import { displayPath, walkPathsSync, type FileProblem } from './files.js';
import { Pool, workerScript } from './pool.js';
import { Scanner, type ChunkResult, type ScanConfig, type ScanFile, type ScanItem } from './scan.js';
import type { Site, Transform } from './types.js';
import { writeAtomic } from './write.js';

export type { Site, Edit, Transform, Category, Action } from './types.js';
export type { FileResult } from './engine.js';
export type { FileProblem } from './files.js';
export { TRANSFORMS } from '../transforms/index.js';
export { processText } from './engine.js';
export { displayPath } from './files.js';
export { workerScript } from './pool.js';

export interface RunOptions {
  paths: string[];
  /** Directory paths are resolved and printed relative to. */
  cwd: string;
  /** Transform ids to run (all when empty). */
  transforms?: string[];
  write?: boolean;
  /** Parse every file, not only those holding a trigger name (for measurement). */
  noPrefilter?: boolean;
  /**
   * Worker threads that parse (default: os.availableParallelism(), or none
   * below AUTO_MIN_FILES files); 0 processes in the calling thread. The
   * result is the same whatever the number.
   */
  jobs?: number;
  /** Called as files are done (after each chunk of files), for a progress line. */
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

/** Without `jobs`, worker threads are used only from this many files up. */
const AUTO_MIN_FILES = 512;
/** Files per chunk handed to a worker (fewer for small trees). */
const CHUNK_FILES = 32;

function sizeOrZero(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0; // the read reports the problem
  }
}

/**
 * The files, in chunks for `workers` scanners. In path order, CHUNK_FILES a
 * chunk (fewer for a small tree, so that each worker still gets a few). When
 * every file is parsed (`bySize`, --no-prefilter on workers), parse time
 * follows size, which varies by four orders of magnitude (generated register
 * headers): one file a chunk, largest first, so that no worker is left with a
 * long file at the end. The order of chunks does not change the result,
 * which run() sorts by path.
 */
function chunksOf(files: string[], workers: number, bySize: boolean): ScanFile[][] {
  let order: ScanFile[] = files.map((abs, id) => ({ id, abs }));
  let size = Math.max(1, Math.min(CHUNK_FILES, Math.ceil(files.length / (4 * workers))));
  if (bySize) {
    const bytes = order.map((f) => sizeOrZero(f.abs));
    order = order.sort((a, b) => bytes[b.id]! - bytes[a.id]! || a.id - b.id);
    size = 1;
  }
  const chunks: ScanFile[][] = [];
  for (let i = 0; i < order.length; i += size) chunks.push(order.slice(i, i + size));
  return chunks;
}

function checkJobs(jobs: number | undefined): void {
  if (jobs !== undefined && !(Number.isInteger(jobs) && jobs >= 0)) {
    throw new UsageError(`--jobs wants a whole number of worker threads (0: none, work in the main thread); got '${jobs}'`);
  }
}

export async function run(opts: RunOptions): Promise<RunResult> {
  const transforms = selectTransforms(opts.transforms);
  checkJobs(opts.jobs);
  const config: ScanConfig = {
    cwd: opts.cwd,
    transforms: transforms.map((t) => t.meta.id),
    triggers: opts.noPrefilter ? null : [...GUP_TRIGGERS],
  };
  // Workers start before or during the walk, so that they load the parser
  // while the main thread walks: at once for an explicit --jobs, else when
  // the walk has found AUTO_MIN_FILES files.
  const script = workerScript();
  let pool: Pool | null = null;
  const jobs = opts.jobs ?? os.availableParallelism();
  const startPool = () => {
    if (!pool && script && jobs > 0) pool = new Pool(script, config, jobs);
  };
  if (opts.jobs !== undefined) startPool();
  const items: ScanItem[] = [];
  let files: string[];
  let problems: FileProblem[];
  let progress: Progress;
  try {
    const walked = walkPathsSync(opts.paths, opts.cwd, opts.jobs === undefined ? (n) => n === AUTO_MIN_FILES && startPool() : undefined);
    files = walked.files;
    problems = walked.problems.map((p) => ({ path: displayPath(opts.cwd, p.path), reason: p.reason }));
    progress = { scanned: 0, total: files.length, candidates: 0, sites: 0 };
    const gather = (r: ChunkResult) => {
      for (const it of r.items) items.push(it);
      progress.scanned += r.scanned;
      progress.candidates += r.candidates;
      progress.sites += r.sites;
      opts.onProgress?.({ ...progress });
    };
    const p = pool as Pool | null;
    const chunks = chunksOf(files, p ? jobs : 1, !!(opts.noPrefilter && p));
    if (p) {
      await p.run(chunks, gather);
    } else {
      const scanner = new Scanner(config);
      for (const c of chunks) {
        gather(scanner.scan(c));
        // Let the parser's finalizers run (see src/scan.ts).
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  } finally {
    (pool as Pool | null)?.close();
  }
  items.sort((a, b) => a.id - b.id);
  const results: FileResult[] = [];
  const changed: ChangedFile[] = [];
  for (const it of items) {
    if (it.problem) problems.push({ path: it.path, reason: it.problem });
    const r = it.result;
    if (!r) continue;
    if (r.error) problems.push({ path: it.path, reason: r.error });
    results.push(r);
    if (r.output !== undefined) {
      changed.push({ path: it.path, absPath: files[it.id]!, before: it.before!, after: r.output });
    }
  }
  if (opts.write) {
    for (const c of changed) {
      const err = await writeAtomic(c.absPath, Buffer.from(c.before, 'latin1'), c.after);
      if (err) problems.push({ path: c.path, reason: err });
    }
  }
  return {
    sites: results.flatMap((r) => r.sites),
    changed,
    problems,
    scanned: progress.scanned,
    candidates: progress.candidates,
  };
}
