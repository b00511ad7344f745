/** Unified diff with git headers, applicable with `git apply` and `patch -p1`. */
import { structuredPatch } from 'diff';
import { quotePath } from '../quote.js';

/** Git's default function-name heading for C: the last line before the hunk starting with a letter, `_` or `$`. */
function heading(lines: string[], before: number): string {
  for (let i = before - 1; i >= 0; i--) {
    if (/^[A-Za-z_$]/.test(lines[i])) return ' ' + lines[i].replace(/\r$/, '').slice(0, 80).trimEnd();
  }
  return '';
}

/**
 * The diff of one file (texts are latin1 strings), or '' when equal. `path`
 * is relative, with `/` separators and no leading `./`; in the headers it is
 * quoted as git quotes it (`"a/evil\nname.c"`), so that a name holding a
 * newline, a quote or a byte >= 0x80 applies with `git apply`.
 */
export function fileDiff(path: string, oldText: string, newText: string, opts: { index?: string } = {}): string {
  if (oldText === newText) return '';
  const patch = structuredPatch(`a/${path}`, `b/${path}`, oldText, newText, undefined, undefined, { context: 3 });
  const oldLines = oldText.split('\n');
  const a = quotePath(`a/${path}`);
  const b = quotePath(`b/${path}`);
  let out = `diff --git ${a} ${b}\n`;
  if (opts.index) out += `index ${opts.index}\n`;
  out += `--- ${a}\n+++ ${b}\n`;
  for (const h of patch.hunks) {
    const o = h.oldLines === 0 ? `${h.oldStart},0` : h.oldLines === 1 ? `${h.oldStart}` : `${h.oldStart},${h.oldLines}`;
    const n = h.newLines === 0 ? `${h.newStart},0` : h.newLines === 1 ? `${h.newStart}` : `${h.newStart},${h.newLines}`;
    out += `@@ -${o} +${n} @@${heading(oldLines, h.oldStart - 1)}\n`;
    for (const l of h.lines) out += l + '\n';
  }
  return out;
}

/** Colour a diff for a terminal. */
export function colorDiff(diff: string): string {
  return diff
    .split('\n')
    .map((l) => {
      if (/^(diff --git|index |--- |\+\+\+ )/.test(l)) return `\x1b[1m${l}\x1b[m`;
      if (l.startsWith('@@')) return `\x1b[36m${l}\x1b[m`;
      if (l.startsWith('+')) return `\x1b[32m${l}\x1b[m`;
      if (l.startsWith('-')) return `\x1b[31m${l}\x1b[m`;
      return l;
    })
    .join('\n');
}
