/** Kernel-style printing: tabs of width 8, continuation aligned to the open parenthesis. */

export const TAB = 8;
export const PREFERRED_COLUMNS = 80;
export const MAX_COLUMNS = 100;

/** Visual width of a string starting at column `col`. */
export function width(s: string, col = 0): number {
  for (const ch of s) col = ch === '\t' ? col + TAB - (col % TAB) : col + 1;
  return col;
}

/** Whitespace reaching visual column `col`: as many tabs as fit, then spaces. */
export function indentTo(col: number): string {
  return '\t'.repeat(Math.floor(col / TAB)) + ' '.repeat(col % TAB);
}

/** Split `a | b | c` at its top-level `|` operators (not `||`). */
export function splitOrChain(expr: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let last = 0;
  for (let i = 0; i < expr.length; i++) {
    const ch = expr[i];
    if (ch === '(' || ch === '[') depth++;
    else if (ch === ')' || ch === ']') depth--;
    else if (ch === '|' && depth === 0 && expr[i + 1] !== '|' && expr[i - 1] !== '|') {
      parts.push(expr.slice(last, i).trim());
      last = i + 1;
    }
  }
  parts.push(expr.slice(last).trim());
  return parts;
}

/**
 * Print a call: `lead` is everything before the function name on the first
 * line (indentation and e.g. `ret = `), `tail` what follows the closing
 * parenthesis (e.g. `;`). Arguments fill lines greedily up to 80 columns;
 * an argument that alone passes 80 columns starts a new line and is broken
 * after the `|` of its operator chain.
 */
export function formatCall(lead: string, fn: string, args: string[], tail: string): string {
  const first = lead + fn + '(';
  const align = width(first);
  const pad = indentTo(align);
  const lines: string[] = [];
  let cur = first;
  let curHasArg = false;
  const push = (word: string, breakable: boolean) => {
    const sep = curHasArg && !cur.endsWith('(') ? ' ' : '';
    if (curHasArg && breakable && width(cur + sep + word) > PREFERRED_COLUMNS) {
      lines.push(cur);
      cur = pad + word;
    } else {
      cur += sep + word;
    }
    curHasArg = true;
  };
  args.forEach((arg, i) => {
    const suffix = i === args.length - 1 ? ')' + tail : ',';
    const piece = arg + suffix;
    if (align + piece.length <= PREFERRED_COLUMNS) {
      push(piece, true);
      return;
    }
    const ops = splitOrChain(arg);
    if (ops.length < 2) {
      push(piece, true);
      return;
    }
    // A long `|` chain: start it on its own line, then fill.
    if (curHasArg) {
      lines.push(cur);
      cur = pad;
      curHasArg = false;
    }
    ops.forEach((op, j) => {
      push(j === ops.length - 1 ? op + suffix : op + ' |', true);
    });
  });
  lines.push(cur);
  return lines.join('\n');
}
