/**
 * File names as bytes, and printed as git prints them.
 *
 * A name is a JS string: readdir's UTF-8 decoding of the bytes. A name whose
 * bytes are not UTF-8 cannot be decoded so (readdir gives U+FFFD for the
 * bytes, the name of no file); `nameFromBytes` keeps each such byte as a lone
 * surrogate U+DC80..U+DCFF, as Python's surrogateescape does, and
 * `nameBytes` gives the bytes back. Such a name can be printed, not opened.
 *
 * `quotePath` is git's quote_c_style with core.quotePath on (git's default),
 * the form of names in `diff --git` headers, diffstats and git's messages: a
 * name holding `"`, `\`, a control character or a byte >= 0x80 is put in
 * double quotes with C escapes (`\n`, `\t`, ...) and `\ooo` for the other
 * bytes; any other name is printed as it is. Pure: no I/O.
 */

/** Characters git quotes (beyond ASCII, every byte is quoted). */
const NEEDS_QUOTE = /["\\\x00-\x1f\x7f-\uffff]/;

/** git's cq_lookup: the C escapes; other quoted bytes are `\ooo`. */
const C_ESCAPES: Record<number, string> = {
  0x07: 'a',
  0x08: 'b',
  0x09: 't',
  0x0a: 'n',
  0x0b: 'v',
  0x0c: 'f',
  0x0d: 'r',
  0x22: '"',
  0x5c: '\\',
};

/** The bytes of a name: UTF-8, with U+DC80..U+DCFF standing for the byte they escape. */
export function nameBytes(name: string): Buffer {
  if (!/[\udc80-\udcff]/.test(name)) return Buffer.from(name, 'utf8');
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0xdc80 || c > 0xdcff) continue;
    // A low surrogate after a high one is half of a real character.
    const prev = i > 0 ? name.charCodeAt(i - 1) : 0;
    if (prev >= 0xd800 && prev <= 0xdbff) continue;
    parts.push(Buffer.from(name.slice(start, i), 'utf8'), Buffer.from([c - 0xdc00]));
    start = i + 1;
  }
  parts.push(Buffer.from(name.slice(start), 'utf8'));
  return Buffer.concat(parts);
}

/** Length of the valid UTF-8 sequence at `i`, or 0 (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF). */
function utf8Length(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  let n: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c === 0xe0) lo = 0xa0;
    else if (c === 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c === 0xf0) lo = 0x90;
    else if (c === 0xf4) hi = 0x8f;
  } else return 0;
  if (i + n > b.length) return 0;
  const c1 = b[i + 1]!;
  if (c1 < lo || c1 > hi) return 0;
  for (let k = 2; k < n; k++) if ((b[i + k]! & 0xc0) !== 0x80) return 0;
  return n;
}

/** True when `bytes` are UTF-8. */
export function isUtf8(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; ) {
    const n = utf8Length(bytes, i);
    if (!n) return false;
    i += n;
  }
  return true;
}

/** The name of `bytes`: UTF-8 decoded, each byte that is not part of a UTF-8 sequence kept as U+DC00 + byte. */
export function nameFromBytes(bytes: Uint8Array): string {
  let out = '';
  let start = 0;
  let i = 0;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  while (i < bytes.length) {
    const n = utf8Length(bytes, i);
    if (n) {
      i += n;
      continue;
    }
    out += buf.toString('utf8', start, i) + String.fromCharCode(0xdc00 + bytes[i]!);
    start = ++i;
  }
  return out + buf.toString('utf8', start, i);
}

/** `name` as git prints a path: as it is, or in double quotes with C escapes (quote_c_style, core.quotePath on). */
export function quotePath(name: string): string {
  if (!NEEDS_QUOTE.test(name)) return name;
  let out = '"';
  for (const c of nameBytes(name)) {
    const e = C_ESCAPES[c];
    if (e !== undefined) out += '\\' + e;
    else if (c < 0x20 || c >= 0x7f) out += '\\' + c.toString(8).padStart(3, '0');
    else out += String.fromCharCode(c);
  }
  return out + '"';
}

/**
 * The inverse of `quotePath` for a path read from a patch: a `"..."` path is
 * unescaped; any other is taken as it stands. `text` is a latin1 string of
 * the patch's bytes (an unquoted path may hold raw UTF-8). Returns the name
 * and the length of `text` the path took (through the closing quote), or
 * null for a quoted path that does not end.
 */
export function unquotePath(text: string): { name: string; length: number } | null {
  if (!text.startsWith('"')) return { name: nameFromBytes(Buffer.from(text, 'latin1')), length: text.length };
  const bytes: number[] = [];
  for (let i = 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return { name: nameFromBytes(Uint8Array.from(bytes)), length: i + 1 };
    if (c !== 0x5c) {
      bytes.push(c & 0xff);
      continue;
    }
    const d = text[++i];
    if (d === undefined) return null;
    const m = /^[0-3][0-7]{2}/.exec(text.slice(i, i + 3));
    if (m) {
      bytes.push(parseInt(m[0], 8));
      i += 2;
      continue;
    }
    const code = Object.entries(C_ESCAPES).find(([, v]) => v === d);
    if (!code) return null;
    bytes.push(Number(code[0]));
  }
  return null;
}

/** `text` on one line: control characters as C escapes (`\n`, `\t`, `\033`), for a message about a file. */
export function oneLine(text: string): string {
  if (!/[\x00-\x1f\x7f]/.test(text)) return text;
  return text.replace(/[\x00-\x1f\x7f]/g, (ch) => {
    const c = ch.charCodeAt(0);
    const e = C_ESCAPES[c];
    return '\\' + (e ?? c.toString(8).padStart(3, '0'));
  });
}
