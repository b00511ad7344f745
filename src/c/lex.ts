/**
 * A look at C text without parsing it: is there a call of some function,
 * outside comments, string literals and character constants? Used to spare
 * the parser the files that name a GUP function only in comments or
 * messages, so it must say yes wherever the parser could see a call:
 *
 * - comments and literals are skipped left to right, as the compiler reads
 *   them (a quote inside a comment, or a comment opener inside a string, is
 *   neither);
 * - what the parser does not take for a comment or a literal is read as code:
 *   an unterminated comment (the parser reads on after it), a quote with no
 *   closing one before the end of its line;
 * - between a name and its `(` may stand blanks, line continuations and
 *   comments.
 *
 * Linear in the text whatever it holds: a comment opener with no closer is
 * searched for once, not once per opener.
 */

/** Index past the blanks, line continuations and comments from `i`. */
function skipGap(text: string, i: number, noCloser: { at: number }): number {
  for (;;) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12) {
      i++;
    } else if (c === 92 /* \ */ && (text.charCodeAt(i + 1) === 10 || (text.charCodeAt(i + 1) === 13 && text.charCodeAt(i + 2) === 10))) {
      i += text.charCodeAt(i + 1) === 10 ? 2 : 3;
    } else if (c === 47 /* / */ && text.charCodeAt(i + 1) === 42 /* * */) {
      const e = closeComment(text, i, noCloser);
      if (e < 0) return i;
      i = e;
    } else if (c === 47 && text.charCodeAt(i + 1) === 47) {
      i = lineCommentEnd(text, i);
    } else {
      return i;
    }
  }
}

/** Index past the `*` `/` closing the comment opened at `i`, or -1 when none does. */
function closeComment(text: string, i: number, noCloser: { at: number }): number {
  if (i >= noCloser.at) return -1;
  const e = text.indexOf('*/', i + 2);
  if (e < 0) {
    // No closer after i: none after any later opener either.
    noCloser.at = i;
    return -1;
  }
  return e + 2;
}

/** Index of the line end ending the `//` comment at `i` (a backslash before it continues the comment). */
function lineCommentEnd(text: string, i: number): number {
  for (let nl = text.indexOf('\n', i); ; nl = text.indexOf('\n', nl + 1)) {
    if (nl < 0) return text.length;
    let b = nl - 1;
    if (text.charCodeAt(b) === 13) b--;
    if (text.charCodeAt(b) !== 92) return nl;
  }
}

/** Index past the literal opened by the quote at `i`, or -1 when the line ends first. */
function closeLiteral(text: string, i: number): number {
  const q = text.charCodeAt(i);
  for (let j = i + 1; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === q) return j + 1;
    if (c === 10) return -1;
    // An escape, or a line continuation (backslash, then LF or CR LF).
    if (c === 92) j += text.charCodeAt(j + 1) === 13 && text.charCodeAt(j + 2) === 10 ? 2 : 1;
  }
  return -1;
}

/**
 * True when some identifier matching `word` (a global regex that matches
 * whole identifiers) and accepted by `accept` stands in code, followed by
 * `(` across blanks and comments.
 */
export function someCallInCode(text: string, word: RegExp, accept: (name: string) => boolean): boolean {
  const tokens = new RegExp(`/\\*|//|"|'|${word.source}`, 'g');
  const noCloser = { at: Infinity };
  for (let m = tokens.exec(text); m; m = tokens.exec(text)) {
    const t = m[0];
    const i = m.index;
    let next = i + t.length;
    if (t === '/*') {
      const e = closeComment(text, i, noCloser);
      if (e >= 0) next = e;
    } else if (t === '//') {
      next = lineCommentEnd(text, i);
    } else if (t === '"' || t === "'") {
      const e = closeLiteral(text, i);
      if (e >= 0) next = e;
    } else if (accept(t)) {
      const after = skipGap(text, next, noCloser);
      if (text.charCodeAt(after) === 40 /* ( */) return true;
    }
    tokens.lastIndex = next;
  }
  return false;
}
