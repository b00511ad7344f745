/**
 * One chunk of files through read -> prefilter -> engine. Shared by the worker
 * threads (src/worker.ts) and the in-thread path of `run()` (src/index.ts), so
 * both give the same results.
 *
 * Memory: a file is read into one scratch buffer that is reused for the next
 * file; only candidates are decoded, and of a candidate only its FileResult
 * (sites, and the rewritten text when a rewrite was accepted) and, for a
 * changed file, its original text are kept.
 *
 * The parser's trees live outside the JavaScript heap and the tree-sitter
 * binding does not tell V8 their size, so V8 sees no reason to collect: left
 * alone, a thread keeps ~15-20 bytes of dead trees per byte parsed (a
 * whole-tree run without the prefilter would need gigabytes). So the scanner
 * runs the collector itself once GC_BYTES have been parsed since the last
 * time; the trees are freed when the thread's event loop next turns (the
 * binding's finalizers run then). Where the collector cannot be had, the
 * scanner reports the bytes it parsed and the pool replaces the worker.
 */
import * as fs from 'node:fs';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { TRANSFORMS } from '../transforms/index.js';
import { processText, type FileResult } from './engine.js';
import { displayPath, errText } from './files.js';
import { Prefilter } from './prefilter.js';
import type { Transform } from './types.js';

/** A file to scan: its index in the sorted walk, and its absolute path. */
export interface ScanFile {
  id: number;
  abs: string;
}

/** What one candidate (or unreadable file) gave. Files that are not candidates give nothing. */
export interface ScanItem {
  id: number;
  /** Display path. */
  path: string;
  /** The file could not be read, or is binary. */
  problem?: string;
  result?: FileResult;
  /** The text as read (latin1), only when `result.output` is set. */
  before?: string;
}

export interface ChunkResult {
  scanned: number;
  candidates: number;
  sites: number;
  /**
   * Bytes this scanner has parsed so far (all chunks) with no way to free the
   * trees (no collector): the pool replaces a worker past a limit. 0 when the
   * scanner collects.
   */
  parsedBytes: number;
  items: ScanItem[];
}

/** What a scanner needs; plain data, so that it can be sent to a worker. */
export interface ScanConfig {
  cwd: string;
  /** Transform ids, already checked, in the order they run. */
  transforms: string[];
  /** Trigger names; null parses every file (--no-prefilter). */
  triggers: string[] | null;
  /** Size of the read buffer (default 1 MiB; the tests make it small). */
  scratchBytes?: number;
}

/** Scratch read buffer: larger than all but 83 of Linux 6.1's 55k .c/.h files. */
const SCRATCH_BYTES = 1 << 20;
/** Source bytes parsed between two collections (~20 MB of dead trees). */
const GC_BYTES = 1 << 20;

let gcFunction: (() => void) | null | undefined;

/** V8's collector: global.gc under --expose-gc, else exposed now; null when it cannot be had. */
function collector(): (() => void) | null {
  if (gcFunction !== undefined) return gcFunction;
  const g = (globalThis as { gc?: () => void }).gc;
  gcFunction = null;
  if (typeof g === 'function') {
    gcFunction = g;
  } else {
    try {
      v8.setFlagsFromString('--expose-gc');
      const gc: unknown = vm.runInNewContext('gc');
      if (typeof gc === 'function') gcFunction = gc as () => void;
    } catch {
      // keep null: the pool replaces workers instead
    }
  }
  return gcFunction;
}

/** A whole file from its start, into a buffer sized by fstat. */
function readWhole(fd: number): Buffer {
  let buf = Buffer.allocUnsafe(fs.fstatSync(fd).size + 1);
  let len = 0;
  for (;;) {
    if (len === buf.length) {
      const bigger = Buffer.allocUnsafe(2 * buf.length);
      buf.copy(bigger, 0, 0, len);
      buf = bigger;
    }
    const n = fs.readSync(fd, buf, len, buf.length - len, len);
    if (n === 0) return buf.subarray(0, len);
    len += n;
  }
}

export class Scanner {
  private readonly buf: Buffer;
  private readonly prefilter: Prefilter | null;
  private readonly transforms: readonly Transform<any>[];
  private parsedBytes = 0;
  private sinceGc = 0;
  private readonly gc = collector();

  constructor(private readonly config: ScanConfig) {
    this.buf = Buffer.allocUnsafe(config.scratchBytes ?? SCRATCH_BYTES);
    this.prefilter = config.triggers ? new Prefilter(config.triggers) : null;
    this.transforms = config.transforms.map((id) => {
      const t = TRANSFORMS.find((x) => x.meta.id === id);
      if (!t) throw new Error(`unknown transform '${id}'`);
      return t;
    });
  }

  /**
   * A candidate's bytes, else null. A file that fits the scratch buffer (all
   * but ~80 of the kernel's, generated register headers) takes one open, one
   * read and one close, no stat, and its bytes are a view of the scratch
   * buffer that the next file overwrites. A larger one is prefiltered as it
   * streams through the scratch buffer, and read whole, into a buffer of its
   * own, only when it is a candidate: a worker's reading memory stays at the
   * scratch buffer whatever the files.
   */
  private load(abs: string): Buffer | null {
    const fd = fs.openSync(abs, fs.constants.O_RDONLY);
    try {
      const len = fs.readSync(fd, this.buf, 0, this.buf.length, null);
      // A short read of a regular file is its end: that saves a read per file.
      // (Were it not, --write would still refuse: it compares the whole file
      // on disk with what was read before overwriting it.)
      if (len < this.buf.length) {
        const bytes = this.buf.subarray(0, len);
        return !this.prefilter || this.prefilter.matches(bytes) ? bytes : null;
      }
      if (this.prefilter && !this.streamMatches(fd)) return null;
      return readWhole(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Prefilter a file whose first scratch-buffer-full has been read, as it streams. */
  private streamMatches(fd: number): boolean {
    const pf = this.prefilter!;
    const buf = this.buf;
    // A trigger that straddles two reads is found whole in the second.
    const keep = Math.max(0, pf.longest - 1);
    let filled = buf.length;
    for (;;) {
      if (pf.matches(filled === buf.length ? buf : buf.subarray(0, filled))) return true;
      if (filled < buf.length) return false;
      buf.copy(buf, 0, filled - keep, filled);
      const n = fs.readSync(fd, buf, keep, buf.length - keep, null);
      if (n === 0) return false;
      filled = keep + n;
    }
  }

  /**
   * Read, prefilter and process `files`. Let the event loop turn between two
   * calls (the parser's trees are freed then).
   */
  scan(files: readonly ScanFile[]): ChunkResult {
    const out: ChunkResult = { scanned: 0, candidates: 0, sites: 0, parsedBytes: 0, items: [] };
    for (const f of files) {
      out.scanned++;
      let bytes: Buffer | null;
      try {
        bytes = this.load(f.abs);
      } catch (e) {
        out.items.push({ id: f.id, path: displayPath(this.config.cwd, f.abs), problem: errText(e) });
        continue;
      }
      if (!bytes) continue;
      out.candidates++;
      const shown = displayPath(this.config.cwd, f.abs);
      if (bytes.includes(0)) {
        out.items.push({ id: f.id, path: shown, problem: 'binary file (holds NUL bytes); skipped' });
        continue;
      }
      const text = bytes.toString('latin1');
      this.parsedBytes += text.length;
      this.sinceGc += text.length;
      let result: FileResult;
      try {
        result = processText(shown, text, this.transforms, { skipWithoutCalls: this.prefilter !== null });
      } catch (e) {
        // A bug: name the file, keep the stack.
        const orig = e instanceof Error ? e : new Error(String(e));
        const err = new Error(`${shown}: ${orig.message}`, { cause: orig });
        err.stack = `${shown}: ${orig.stack ?? orig.message}`;
        throw err;
      }
      out.sites += result.sites.length;
      out.items.push({ id: f.id, path: shown, result, before: result.output !== undefined ? text : undefined });
    }
    if (this.gc && this.sinceGc >= GC_BYTES) {
      this.gc();
      this.sinceGc = 0;
    }
    out.parsedBytes = this.gc ? 0 : this.parsedBytes;
    return out;
  }
}
