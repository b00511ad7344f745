/**
 * A worker thread of `run()`'s pool (src/index.ts): it receives chunks of file
 * paths, reads, prefilters and processes them with its own engine and
 * transforms (src/scan.ts), and posts back one ChunkResult per chunk. It keeps
 * nothing of a file once its chunk is answered.
 *
 * Messages in: `{ files: ScanFile[] }`. Out: `{ ok: ChunkResult }` or
 * `{ error: string }` (the stack of an exception, which ends the run).
 *
 * This file only runs compiled (dist/src/worker.js): worker threads load
 * plain JavaScript.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Scanner, type ScanConfig, type ScanFile } from './scan.js';

if (parentPort) {
  const port = parentPort;
  const scanner = new Scanner(workerData as ScanConfig);
  // One chunk per turn of the event loop: the parser's trees that the
  // scanner's collections free are released by finalizers that run between
  // turns (see src/scan.ts), and a port delivers all its queued messages in
  // one go.
  const queue: ScanFile[][] = [];
  const step = () => {
    const files = queue.shift()!;
    try {
      port.postMessage({ ok: scanner.scan(files) });
    } catch (e) {
      port.postMessage({ error: (e as Error)?.stack ?? String(e) });
    }
    if (queue.length) setImmediate(step);
  };
  port.on('message', (msg: { files: ScanFile[] }) => {
    queue.push(msg.files);
    if (queue.length === 1) setImmediate(step);
  });
}
