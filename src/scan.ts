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
}

const INITIAL_BUFFER = 1 << 20;
/** Source bytes parsed between two collections (~40 MB of dead trees). */
const GC_BYTES = 2 << 20;

/** V8's collector: global.gc under --expose-gc, else exposed now. */
function collector(): (() => void) | null {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return g;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = vm.runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  }
}

export class Scanner {
  private buf = Buffer.allocUnsafe(INITIAL_BUFFER);
  private readonly prefilter: Prefilter | null;
  private readonly transforms: readonly Transform<any>[];
  private parsedBytes = 0;
  private sinceGc = 0;
  private readonly gc = collector();

  constructor(private readonly config: ScanConfig) {
    this.prefilter = config.triggers ? new Prefilter(config.triggers) : null;
    this.transforms = config.transforms.map((id) => {
      const t = TRANSFORMS.find((x) => x.meta.id === id);
      if (!t) throw new Error(`unknown transform '${id}'`);
      return t;
    });
  }

  /**
   * The whole file, as a view of the scratch buffer that the next read
   * overwrites. One open, one read (more for a file larger than the
   * buffer), one close; no stat.
   */
  private read(abs: string): Buffer {
    const fd = fs.openSync(abs, 'r');
    let len = 0;
    try {
      for (;;) {
        if (len === this.buf.length) {
          const bigger = Buffer.allocUnsafe(this.buf.length * 2);
          this.buf.copy(bigger, 0, 0, len);
          this.buf = bigger;
        }
        const want = this.buf.length - len;
        const n = fs.readSync(fd, this.buf, len, want, null);
        len += n;
        // A short read of a regular file is its end; saves a read per file.
        // (Were it not, --write would still refuse: it compares the whole
        // file on disk with what was read before overwriting it.)
        if (n < want) break;
      }
    } finally {
      fs.closeSync(fd);
    }
    return this.buf.subarray(0, len);
  }

  /**
   * Read, prefilter and process `files`. Let the event loop turn between two
   * calls (the parser's trees are freed then).
   */
  scan(files: readonly ScanFile[]): ChunkResult {
    const out: ChunkResult = { scanned: 0, candidates: 0, sites: 0, parsedBytes: 0, items: [] };
    for (const f of files) {
      out.scanned++;
      let bytes: Buffer;
      try {
        bytes = this.read(f.abs);
      } catch (e) {
        out.items.push({ id: f.id, path: displayPath(this.config.cwd, f.abs), problem: errText(e) });
        continue;
      }
      if (this.prefilter && !this.prefilter.matches(bytes)) continue;
      out.candidates++;
      const shown = displayPath(this.config.cwd, f.abs);
      if (bytes.includes(0)) {
        out.items.push({ id: f.id, path: shown, problem: 'binary file (holds NUL bytes); skipped' });
        continue;
      }
      const text = bytes.toString('latin1');
      if (this.buf.length > 4 * INITIAL_BUFFER) this.buf = Buffer.allocUnsafe(INITIAL_BUFFER);
      this.parsedBytes += text.length;
      this.sinceGc += text.length;
      const result = processText(shown, text, this.transforms);
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
