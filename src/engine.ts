/**
 * For one file: run the transforms, apply their edits with magic-string,
 * refuse overlaps, and keep only the rewrites that verify.
 */
import MagicString from 'magic-string';
import type { Node, ParsedFile } from './parse/index.js';
import { conditionalAt, nestsDeeper, parse, topLevelAt } from './parse/index.js';
import { eolOf } from './c/text.js';
import type { Edit, Match, Site, Transform } from './types.js';
import { isRefusal } from './types.js';
import { verifyRewrite } from './verify.js';
import { fallbackSites } from '../transforms/fallback.js';
import { mayCallGup } from '../transforms/common.js';
import { GUP_TRIGGERS } from '../transforms/gup-api.js';

export interface FileResult {
  /** Path as displayed (relative to the working directory). */
  path: string;
  sites: Site[];
  /** The rewritten text (latin1), when any rewrite was accepted. */
  output?: string;
  /** Set when the file could not be processed. */
  error?: string;
}

/** Apply non-overlapping edits; throws on overlap. */
export function applyEdits(text: string, edits: Edit[]): string {
  const s = new MagicString(text);
  const crlf = eolOf(text) === '\r\n';
  const sorted = [...edits].sort((a, b) => a.start - b.start || a.end - b.end);
  let last = -1;
  for (const e of sorted) {
    if (e.start < last) throw new Error(`overlapping edits at ${e.start}`);
    const t = crlf ? e.text.replace(/\r?\n/g, '\r\n') : e.text;
    if (e.start === e.end) {
      if (t) s.appendLeft(e.start, t);
    } else if (t === '') {
      s.remove(e.start, e.end);
    } else {
      s.overwrite(e.start, e.end, t);
    }
    last = e.end;
  }
  return s.toString();
}

function overlaps(a: Edit[], b: Edit[]): boolean {
  return a.some((x) => b.some((y) => x.start < y.end && y.start < x.end));
}

/** Files that implement GUP, whose calls are not call sites to classify. */
const IMPLEMENTATION = /(^|\/)mm\/gup\.c$/;

/**
 * Syntax nesting, in tree levels, beyond which a declaration holding a GUP
 * name is not processed. Kernel files holding GUP calls nest at most ~40
 * levels (Linux 6.1); the transforms walk up from a call through parents,
 * which the parser binding answers in time proportional to the depth, so a
 * hostile file nested thousands of levels deep would take hours.
 */
export const MAX_NESTING = 256;

const TRIGGER = new RegExp(GUP_TRIGGERS.join('|'), 'g');

/** A top-level declaration holding a GUP name that nests deeper than MAX_NESTING, if any. */
function tooDeep(file: ParsedFile): Node | null {
  const seen = new Set<number>();
  for (const m of file.text.matchAll(TRIGGER)) {
    const top = topLevelAt(file, m.index!);
    if (!top || seen.has(top.startIndex)) continue;
    seen.add(top.startIndex);
    if (nestsDeeper(top, MAX_NESTING)) return top;
  }
  return null;
}

/**
 * Does an edit lie in another preprocessor branch than the call? Then the
 * rewrite would change code that is compiled in other configurations than
 * the call (a label and its release outside an `#if 0` holding the call).
 */
function crossesConditional(file: ParsedFile, callStart: number, edits: Edit[]): boolean {
  const home = conditionalAt(file, callStart);
  const key = (n: Node | null) => (n ? `${n.type}@${n.startIndex}` : '');
  return edits.some(
    (e) => key(conditionalAt(file, e.start)) !== key(home) || (e.end > e.start && key(conditionalAt(file, e.end - 1)) !== key(home)),
  );
}

export interface ProcessOptions {
  /**
   * Parse the file even when its text holds no GUP call (false: the
   * --no-prefilter measurement of parsing cost). Default true.
   */
  skipWithoutCalls?: boolean;
}

export function processText(path: string, text: string, transforms: readonly Transform<any>[], opts: ProcessOptions = {}): FileResult {
  if (IMPLEMENTATION.test(path)) return { path, sites: [] };
  // Every site is a GUP call: a file without call-shaped code is not parsed.
  if (opts.skipWithoutCalls !== false && !mayCallGup(text)) return { path, sites: [] };
  let file: ParsedFile;
  try {
    file = parse(path, text);
  } catch (e) {
    return { path, sites: [], error: `cannot parse: ${(e as Error).message}` };
  }
  const deep = tooDeep(file);
  if (deep) {
    return { path, sites: [], error: `code nested deeper than ${MAX_NESTING} levels (line ${deep.startPosition.row + 1}); not processed` };
  }
  try {
    return processParsed(file, transforms);
  } catch (e) {
    // A transform that throws is a gupmod bug: the file is reported and
    // left as it is, and the other files are still processed.
    return { path, sites: [], error: `internal error, file left as it is: ${(e as Error)?.message ?? e}` };
  }
}

function processParsed(file: ParsedFile, transforms: readonly Transform<any>[]): FileResult {
  const { path, text } = file;
  const claimed = new Set<number>();
  const matches: Array<{ t: Transform<any>; m: Match<any> }> = [];
  for (const t of transforms) {
    for (const m of t.match(file)) {
      if (claimed.has(m.callStart)) continue;
      claimed.add(m.callStart);
      matches.push({ t, m });
    }
  }
  matches.sort((a, b) => a.m.callStart - b.m.callStart);
  let current = file;
  let currentText = text;
  const accepted: Edit[] = [];
  for (const { t, m } of matches) {
    if (m.site.action !== 'rewrite') continue;
    const r = t.rewrite(m, file);
    if (isRefusal(r)) {
      m.site.action = 'review';
      m.site.reason = r.refuse;
      continue;
    }
    if (crossesConditional(file, m.callStart, r.edits)) {
      m.site.action = 'review';
      m.site.reason = 'its edits reach across an #if/#ifdef branch boundary from the call';
      continue;
    }
    if (overlaps(r.edits, accepted)) {
      m.site.action = 'review';
      m.site.reason = 'its edits overlap another rewrite in the same function';
      continue;
    }
    let next: string;
    try {
      next = applyEdits(text, [...accepted, ...r.edits]);
    } catch (e) {
      m.site.action = 'review';
      m.site.reason = `its edits cannot be applied: ${(e as Error).message}`;
      continue;
    }
    const v = verifyRewrite(file, next, m.fnRange ? m.fnRange[0] : m.callStart, r.removed, t);
    if (v.reason) {
      m.site.action = 'review';
      m.site.reason = `rewrite dropped: ${v.reason}`;
      continue;
    }
    if (r.reason) m.site.reason = r.reason;
    accepted.push(...r.edits);
    current = v.after;
    currentText = next;
  }
  void current;
  const sites = [...matches.map((x) => x.m.site), ...fallbackSites(file, claimed)];
  sites.sort((a, b) => a.line - b.line || a.column - b.column);
  return { path, sites, output: accepted.length ? currentText : undefined };
}
