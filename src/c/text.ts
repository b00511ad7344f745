/** Line-level helpers over a file's text, for building edits that keep kernel layout. */
import type { Node } from '../parse/index.js';
import type { Edit } from '../types.js';

export function lineStart(text: string, i: number): number {
  return text.lastIndexOf('\n', i - 1) + 1;
}

/** Index just past the newline ending the line holding `i` (or text end). */
export function lineEnd(text: string, i: number): number {
  const nl = text.indexOf('\n', i);
  return nl < 0 ? text.length : nl + 1;
}

/** Leading whitespace of the line holding `i`. */
export function indentAt(text: string, i: number): string {
  const s = lineStart(text, i);
  return /^[ \t]*/.exec(text.slice(s, i))![0];
}

/** True when only whitespace precedes `i` on its line. */
export function startsLine(text: string, i: number): boolean {
  return /^[ \t]*$/.test(text.slice(lineStart(text, i), i));
}

/** True when only whitespace (and the line break) follows `i` on its line. */
export function endsLine(text: string, i: number): boolean {
  const e = lineEnd(text, i);
  return /^[ \t]*\r?\n?$/.test(text.slice(i, e));
}

function isBlank(line: string): boolean {
  return /^[ \t]*\r?\n?$/.test(line);
}

/**
 * Delete a statement (or several, [start, end)) together with its lines when it
 * stands on lines of its own, without leaving a doubled blank line or a blank
 * line just inside braces. Otherwise delete just the text.
 */
export function deleteLines(text: string, start: number, end: number): Edit {
  if (!startsLine(text, start) || !endsLine(text, end)) return { start, end, text: '' };
  let s = lineStart(text, start);
  let e = lineEnd(text, end);
  const prevStart = s > 0 ? lineStart(text, s - 1) : -1;
  const prev = prevStart >= 0 ? text.slice(prevStart, s) : null;
  const next = e < text.length ? text.slice(e, lineEnd(text, e)) : null;
  if (next !== null && isBlank(next) && (prev === null || isBlank(prev) || /\{\s*$/.test(prev) || /^[A-Za-z_]\w*:\s*$/.test(prev))) {
    e = lineEnd(text, e);
  } else if (prev !== null && isBlank(prev) && (next === null || /^\s*\}/.test(next))) {
    s = prevStart;
  }
  return { start: s, end: e, text: '' };
}

export function deleteNodeLines(text: string, node: Node): Edit {
  return deleteLines(text, node.startIndex, node.endIndex);
}

/**
 * Remove one indentation level (a leading tab) from every line of `s` but the
 * first. Returns null when a line does not start with a tab.
 */
export function dedent(s: string, levels = 1): string | null {
  const lines = s.split('\n');
  for (let i = 1; i < lines.length; i++) {
    for (let k = 0; k < levels; k++) {
      if (lines[i].startsWith('\t')) lines[i] = lines[i].slice(1);
      else if (!isBlank(lines[i])) return null;
    }
  }
  return lines.join('\n');
}

/** Apply edits (non-overlapping) to the slice [start, end) of `text`. */
export function sliceWithEdits(text: string, start: number, end: number, edits: Edit[]): string {
  const inside = edits
    .filter((e) => e.start >= start && e.end <= end)
    .sort((a, b) => a.start - b.start || a.end - b.end);
  let out = '';
  let pos = start;
  for (const e of inside) {
    if (e.start < pos) throw new Error('overlapping edits');
    out += text.slice(pos, e.start) + e.text;
    pos = e.end;
  }
  return out + text.slice(pos, end);
}

/** The line ending used by the file (CRLF when its first line break is one). */
export function eolOf(text: string): string {
  const i = text.indexOf('\n');
  return i > 0 && text[i - 1] === '\r' ? '\r\n' : '\n';
}
