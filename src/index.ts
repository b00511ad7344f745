/**
 * gupmod's public API: `run(options)` walks, prefilters, parses, matches,
 * rewrites and verifies, and returns what it found. It never prints.
 */
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { TRANSFORMS } from '../transforms/index.js';
import { GUP_TRIGGERS } from '../transforms/gup-api.js';
import type { FileResult } from './engine.js';
import { displayPath, walkPathsSync, type FileProblem } from './files.js';
import { Scanner, type ChunkResult, type ScanConfig, type ScanFile, type ScanItem } from './scan.js';
import type { Site, Transform } from './types.js';
import { writeAtomic } from './write.js';

export type { Site, Edit, Transform, Category, Action } from './types.js';
export type { FileResult } from './engine.js';
export type { FileProblem } from './files.js';
export { TRANSFORMS } from '../transforms/index.js';
export { processText } from './engine.js';
export { displayPath } from './files.js';

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

/** Run with worker threads only from this many files up, unless `jobs` is given. */
const AUTO_MIN_FILES = 512;
/** Files per message to a worker. */
const CHUNK_FILES = 32;
/** Chunks a worker holds at once (one running, the next queued). */
const IN_FLIGHT = 2;
/**
 * A worker that has parsed this many bytes is replaced by a fresh one: the
 * tree-sitter binding does not free parsed trees (about 15 bytes per source
 * byte stay allocated), and ending the thread returns them.
 */
const RECYCLE_BYTES = 8 << 20;

/**
 * The compiled worker script, or null when there is none: running compiled,
 * dist/src/worker.js beside this module; running from the TypeScript sources
 * (vitest), the compiled one in dist/ when it has been built (`npm test`
 * builds first), else null and run() processes in its own thread.
 */
export function workerScript(): URL | null {
  const here = import.meta.url;
  const url = here.endsWith('.ts') ? new URL('../dist/src/worker.js', here) : new URL('./worker.js', here);
  return existsSync(fileURLToPath(url)) ? url : null;
}

function checkJobs(jobs: number | undefined): void {
  if (jobs !== undefined && !(Number.isInteger(jobs) && jobs >= 0)) {
    throw new UsageError(`--jobs wants a whole number of workers (0: none, in the main thread); got '${jobs}'`);
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
  const walked = walkPathsSync(opts.paths, opts.cwd);
  const problems: FileProblem[] = walked.problems.map((p) => ({ path: displayPath(opts.cwd, p.path), reason: p.reason }));
  const total = walked.files.length;
  const script = workerScript();
  const jobs = opts.jobs ?? (total < AUTO_MIN_FILES ? 0 : os.availableParallelism());
  const workers = script ? Math.min(jobs, total) : 0;
  // Small trees still give each worker a few chunks.
  const size = Math.max(1, Math.min(CHUNK_FILES, Math.ceil(total / (4 * Math.max(1, workers)))));
  const chunks: ScanFile[][] = [];
  for (let i = 0; i < total; i += size) {
    chunks.push(walked.files.slice(i, i + size).map((abs, k) => ({ id: i + k, abs })));
  }
  const items: ScanItem[] = [];
  const progress: Progress = { scanned: 0, total, candidates: 0, sites: 0 };
  const gather = (r: ChunkResult) => {
    for (const it of r.items) items.push(it);
    progress.scanned += r.scanned;
    progress.candidates += r.candidates;
    progress.sites += r.sites;
    opts.onProgress?.({ ...progress });
  };
  if (workers > 0) {
    await runPool(script!, workers, config, chunks, gather);
  } else {
    const scanner = new Scanner(config);
    for (const c of chunks) gather(scanner.scan(c));
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
      changed.push({ path: it.path, absPath: walked.files[it.id]!, before: it.before!, after: r.output });
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

/**
 * Hand the chunks, in order, to `n` workers, each holding at most IN_FLIGHT
 * chunks; `gather` sees each ChunkResult as it arrives (in no fixed order).
 * The first error (an exception in a worker, or a worker that dies) ends the
 * run: every worker is stopped and the promise rejects.
 */
function runPool(script: URL, n: number, config: ScanConfig, chunks: ScanFile[][], gather: (r: ChunkResult) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    interface Slot {
      worker: Worker;
      inFlight: number;
      retiring: boolean;
    }
    const live = new Set<Slot>();
    let next = 0;
    let done = 0;
    let failed = false;
    const stopAll = () => {
      for (const s of live) void s.worker.terminate();
      live.clear();
    };
    const fail = (e: Error) => {
      if (failed) return;
      failed = true;
      stopAll();
      reject(e);
    };
    const feed = (s: Slot) => {
      while (!s.retiring && s.inFlight < IN_FLIGHT && next < chunks.length) {
        s.inFlight++;
        s.worker.postMessage({ files: chunks[next++] });
      }
    };
    const retire = (s: Slot) => {
      live.delete(s);
      void s.worker.terminate();
    };
    const spawn = () => {
      const worker = new Worker(script, { workerData: config });
      const s: Slot = { worker, inFlight: 0, retiring: false };
      live.add(s);
      worker.on('message', (msg: { ok?: ChunkResult; error?: string }) => {
        if (failed) return;
        if (msg.error !== undefined) {
          const e = new Error(msg.error.split('\n')[0]);
          e.stack = msg.error;
          fail(e);
          return;
        }
        s.inFlight--;
        done++;
        gather(msg.ok!);
        if (done === chunks.length) {
          stopAll();
          resolve();
          return;
        }
        if (!s.retiring && msg.ok!.parsedBytes >= RECYCLE_BYTES && next < chunks.length) {
          s.retiring = true;
          feed(spawn());
        }
        if (s.retiring) {
          if (s.inFlight === 0) retire(s);
        } else {
          feed(s);
        }
      });
      worker.on('error', (e) => fail(e));
      worker.on('exit', (code) => {
        if (live.has(s) && !failed) fail(new Error(`a worker thread exited (code ${code}) before its work was done`));
      });
      return s;
    };
    for (let i = 0; i < n; i++) feed(spawn());
  });
}
