/**
 * The worker threads of `run()`: each runs src/worker.ts (compiled), which
 * scans the chunks of files it is sent (src/scan.ts) and answers with one
 * ChunkResult per chunk. Chunks are handed out in order, each worker holding
 * at most IN_FLIGHT of them, so a worker that meets slow files gets fewer.
 *
 * Workers are started as soon as the pool is made, so that they load the
 * parser and the transforms while the main thread walks the tree; a worker
 * that has parsed RECYCLE_BYTES that it cannot free (no collector, see
 * src/scan.ts) is replaced by a fresh one: ending a thread frees its trees.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ChunkResult, ScanConfig, ScanFile } from './scan.js';

/** Chunks a worker holds at once (one running, the next queued). */
const IN_FLIGHT = 2;
/**
 * Parsed bytes after which a worker that cannot collect is replaced: about
 * 15-20 bytes per source byte stay allocated in the parser (measured on
 * Linux 6.1 files), so such a worker holds at most ~150 MB of dead trees.
 */
const RECYCLE_BYTES = 8 << 20;

/**
 * The compiled worker script, or null when there is none. Running compiled:
 * dist/src/worker.js beside this module. Running from the TypeScript sources
 * (vitest): the compiled one in dist/ when it has been built (`npm test`
 * builds first); else null, and run() processes in its own thread.
 */
export function workerScript(): URL | null {
  const here = import.meta.url;
  const url = here.endsWith('.ts') ? new URL('../dist/src/worker.js', here) : new URL('./worker.js', here);
  return existsSync(fileURLToPath(url)) ? url : null;
}

interface Slot {
  worker: Worker;
  inFlight: number;
  retiring: boolean;
}

export class Pool {
  private readonly live = new Set<Slot>();
  private chunks: ScanFile[][] = [];
  private next = 0;
  private done = 0;
  private gather: (r: ChunkResult) => void = () => undefined;
  private settle: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private error: Error | null = null;
  private closed = false;
  private ended = false;

  constructor(
    private readonly script: URL,
    private readonly config: ScanConfig,
    size: number,
  ) {
    for (let i = 0; i < size; i++) this.spawn();
  }

  /**
   * Scan chunks as they are added (`add`), until `end()`; `gather` sees each
   * ChunkResult as it arrives, in no fixed order. The promise settles when
   * every chunk added before `end()` is done; the first error (an exception
   * in a worker, or a worker that dies) stops every worker and rejects. The
   * pool is closed afterwards.
   */
  start(gather: (r: ChunkResult) => void): Promise<void> {
    this.gather = gather;
    return new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
      if (this.error) this.fail(this.error);
    });
  }

  /** A worker has failed: the run's promise is rejected, more chunks would go nowhere. */
  get failed(): boolean {
    return this.error !== null;
  }

  /** More chunks for the workers. */
  add(chunks: ScanFile[][]): void {
    for (const c of chunks) this.chunks.push(c);
    for (const s of this.live) this.feed(s);
  }

  /** No more chunks will be added. */
  end(): void {
    this.ended = true;
    if (this.done === this.chunks.length) this.finish();
  }

  /** `start`, `add` and `end` in one. */
  run(chunks: ScanFile[][], gather: (r: ChunkResult) => void): Promise<void> {
    const p = this.start(gather);
    this.add(chunks);
    this.end();
    return p;
  }

  /** Stop every worker. */
  close(): void {
    this.closed = true;
    for (const s of this.live) void s.worker.terminate();
    this.live.clear();
  }

  private finish(): void {
    this.close();
    const settle = this.settle;
    this.settle = null;
    settle?.resolve();
  }

  private fail(e: Error): void {
    this.error ??= e;
    this.close();
    const settle = this.settle;
    this.settle = null;
    settle?.reject(this.error);
  }

  private feed(s: Slot): void {
    while (!s.retiring && s.inFlight < IN_FLIGHT && this.next < this.chunks.length) {
      s.inFlight++;
      s.worker.postMessage({ files: this.chunks[this.next++] });
    }
  }

  private spawn(): Slot {
    const worker = new Worker(this.script, { workerData: this.config });
    const s: Slot = { worker, inFlight: 0, retiring: false };
    this.live.add(s);
    worker.on('message', (msg: { ok?: ChunkResult; error?: string }) => this.onMessage(s, msg));
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => {
      if (this.live.has(s) && !this.closed) this.fail(new Error(`a worker thread exited (code ${code}) before its work was done`));
    });
    return s;
  }

  private onMessage(s: Slot, msg: { ok?: ChunkResult; error?: string }): void {
    if (this.closed) return;
    if (msg.error !== undefined) {
      const e = new Error(msg.error.split('\n')[0]);
      e.stack = msg.error;
      this.fail(e);
      return;
    }
    const r = msg.ok!;
    s.inFlight--;
    this.done++;
    this.gather(r);
    if (this.ended && this.done === this.chunks.length) return this.finish();
    if (!s.retiring && r.parsedBytes >= RECYCLE_BYTES && !(this.ended && this.next === this.chunks.length)) {
      s.retiring = true;
      this.feed(this.spawn());
    }
    if (!s.retiring) {
      this.feed(s);
    } else if (s.inFlight === 0) {
      this.live.delete(s);
      void s.worker.terminate();
    }
  }
}
