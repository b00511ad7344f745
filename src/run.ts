/**
 * `run(options)`: walk, prefilter, parse, match, rewrite and verify, and
 * return what was found. It never prints.
 *
 * Kept apart from src/index.ts (the public API, which also exports the
 * engine) so that the CLI's main thread, which leaves parsing to its worker
 * threads, does not load the engine at start-up: the in-thread scanner is
 * imported only when it is used.
 */
import { statSync } from 'node:fs';
import * as os from 'node:os';
import { TRANSFORMS } from '../transforms/index.js';
import { GUP_TRIGGERS } from '../transforms/gup-api.js';
import type { FileResult } from './engine.js';
import { Walker, displayPath, type FileProblem } from './files.js';
import { Pool, workerScript } from './pool.js';
import type { ChunkResult, ScanConfig, ScanFile, ScanItem } from './scan.js';
import type { Site, Transform } from './types.js';
import { writeAtomic } from './write.js';

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
/** Files the walk finds between two turns of the event loop, on a large tree. */
const WALK_BATCH = 2048;

function sizeOrZero(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0; // the read reports the problem
  }
}

/**
 * Files in chunks for `workers` scanners: CHUNK_FILES a chunk, or fewer for a
 * small tree so that each worker still gets a few (`size` fixes it). When
 * every file is parsed (`bySize`, --no-prefilter on workers), parse time
 * follows size, which varies by four orders of magnitude (generated register
 * headers): one file a chunk, largest first, so that no worker is left with a
 * long file at the end. The order of chunks does not change the result,
 * which run() sorts by path.
 */
function chunksOf(files: ScanFile[], workers: number, bySize: boolean, size?: number): ScanFile[][] {
  let order = files;
  let n = size ?? Math.max(1, Math.min(CHUNK_FILES, Math.ceil(files.length / (4 * workers))));
  if (bySize) {
    const bytes = new Map(order.map((f) => [f.id, sizeOrZero(f.abs)]));
    order = [...order].sort((a, b) => bytes.get(b.id)! - bytes.get(a.id)! || a.id - b.id);
    n = 1;
  }
  const chunks: ScanFile[][] = [];
  for (let i = 0; i < order.length; i += n) chunks.push(order.slice(i, i + n));
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
  // Workers start before the walk, so that they load the parser while the
  // main thread walks: at once for an explicit --jobs, else once the walk
  // has found AUTO_MIN_FILES files.
  const script = workerScript();
  const jobs = opts.jobs ?? os.availableParallelism();
  let pool: Pool | null = opts.jobs !== undefined && script && jobs > 0 ? new Pool(script, config, jobs) : null;
  const items: ScanItem[] = [];
  const walker = new Walker(opts.paths, opts.cwd);
  // Files in walk order; a ScanFile's id is its index here.
  const files: string[] = [];
  const progress: Progress = { scanned: 0, total: 0, candidates: 0, sites: 0 };
  const gather = (r: ChunkResult) => {
    for (const it of r.items) items.push(it);
    progress.scanned += r.scanned;
    progress.candidates += r.candidates;
    progress.sites += r.sites;
    opts.onProgress?.({ ...progress });
  };
  const walked = (batch: string[]): ScanFile[] => {
    const out = batch.map((abs, i) => ({ id: files.length + i, abs }));
    for (const f of batch) files.push(f);
    progress.total = files.length;
    return out;
  };
  try {
    let first = walked(walker.take(AUTO_MIN_FILES));
    if (!pool && !walker.done && script && jobs > 0) pool = new Pool(script, config, jobs);
    const p = pool as Pool | null;
    // Files go out as the walk finds them only to workers, and not when
    // chunks are ordered by size (--no-prefilter): else the walk ends first.
    if (!p || opts.noPrefilter) first = first.concat(walked(walker.take(Infinity)));
    if (!p) {
      // In this thread: a small tree, or --jobs 0.
      const { Scanner } = await import('./scan.js');
      const scanner = new Scanner(config);
      for (const c of chunksOf(first, 1, false)) {
        gather(scanner.scan(c));
        // Let the parser's finalizers run (see src/scan.ts).
        await new Promise((resolve) => setImmediate(resolve));
      }
    } else if (walker.done || opts.noPrefilter) {
      // All files known before the first is handed out: chunks sized for the
      // tree, or (every file parsed) one file a chunk, largest first.
      await p.run(chunksOf(first, jobs, !!opts.noPrefilter), gather);
    } else {
      // A large tree: files go to the workers as the walk finds them, a
      // batch at a time, the results coming in between two batches.
      const finished = p.start(gather);
      // A worker may fail while the walk goes on: the rejection is awaited below.
      finished.catch(() => undefined);
      p.add(chunksOf(first, jobs, false, CHUNK_FILES));
      while (!walker.done && !p.failed) {
        await new Promise((resolve) => setImmediate(resolve));
        p.add(chunksOf(walked(walker.take(WALK_BATCH)), jobs, false, CHUNK_FILES));
      }
      p.end();
      await finished;
    }
  } finally {
    (pool as Pool | null)?.close();
  }
  const problems: FileProblem[] = walker.problems.map((p) => ({ path: displayPath(opts.cwd, p.path), reason: p.reason }));
  // Output in path order, whatever order the walk and the workers took.
  items.sort((a, b) => (files[a.id]! < files[b.id]! ? -1 : files[a.id]! > files[b.id]! ? 1 : 0));
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
