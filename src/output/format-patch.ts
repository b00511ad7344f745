/**
 * `gupmod format-patch`: the rewrites as a numbered patch series in the
 * layout of `git format-patch`, one patch per subsystem (or directory, or
 * file), so that `git am DIR/*.patch` applies it and `git send-email DIR`
 * mails it.
 *
 * Nothing here knows C or GUP: the commit messages are made of the sites'
 * data (function, api, reason, bugs) and the wording each transform declares
 * in `meta.commitText`. Texts are latin1 strings holding the file bytes, as
 * everywhere in gupmod; text coming from the command line is turned into
 * UTF-8 bytes first (`bytesOf`).
 */
import { createHash } from 'node:crypto';
import { existsSync, promises as fs, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformById } from '../../transforms/index.js';
import type { ChangedFile, RunResult } from '../index.js';
import type { CommitText, Site, TransformMeta } from '../types.js';
import { fixesTrailer, gitIdentity, headBlobs, headCommit, introducingCommit, mostUsedPrefix, recentSubjects, repoInfo, subjectPrefix, type RepoInfo } from '../git.js';
import { bareAddress, getMaintainerPl, hasGetMaintainer, prefixFromPaths, readMaintainers, recipientsFor, sectionFor, type Maintainers, type Recipients } from '../maintainers.js';
import { quotePath, unquotePath } from '../quote.js';
import { fileDiff } from './diff.js';

export type Split = 'file' | 'dir' | 'subsystem';

export interface SeriesOptions {
  /** The tree: paths of the run are relative to it, MAINTAINERS and scripts/ are read from it. */
  cwd: string;
  /** `--split` (default subsystem). */
  split?: Split;
  /** `--from 'Name <email>'`; default git config user.name / user.email. */
  from?: string;
  /** `--subject-prefix` (default PATCH). */
  subjectPrefix?: string;
  /** `-v N`. */
  rerollCount?: string | number;
  coverLetter?: boolean;
  /** `--to`/`--cc`: when given, they replace the To/Cc found from MAINTAINERS. */
  to?: string[];
  cc?: string[];
  /** false with `--no-maintainers`: no To/Cc from MAINTAINERS. */
  maintainers?: boolean;
  /** `--core-patch FILE`: a patch mail placed first. */
  corePatch?: string;
  /** `--date`: a fixed date (any form `Date` parses; an explicit offset is kept). Default: now. */
  date?: string;
  /** Transform metas by id (default: the registry). */
  meta?: (id: string) => TransformMeta | undefined;
  /** The `-- ` signature (default `gupmod <version>`). */
  signature?: string;
}

export interface PatchFile {
  /** File name inside the output directory. */
  name: string;
  /** The mail, as a latin1 string of bytes. */
  text: string;
}

export interface Series {
  /** The cover letter (when asked) first, then the patches in order. */
  files: PatchFile[];
  /** Things the user should know (a lookup that failed, a fallback taken). */
  warnings: string[];
}

/** A problem that stops the series (no author, unreadable core patch). */
export class SeriesError extends Error {}

// ---------------------------------------------------------------------------
// Bytes, hashes, dates

/** A JavaScript string as UTF-8 bytes in a latin1 string. */
export function bytesOf(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

/** Git's blob id of a latin1 string of bytes: sha1 of `blob <len>\0<bytes>`. */
export function blobId(text: string): string {
  const bytes = Buffer.from(text, 'latin1');
  return createHash('sha1').update(`blob ${bytes.length}\0`, 'latin1').update(bytes).digest('hex');
}

function sha1(text: string): string {
  return createHash('sha1').update(Buffer.from(text, 'latin1')).digest('hex');
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * An RFC 2822 date, `Wed, 25 Nov 2026 12:05:13 +0000`. `spec` is anything
 * `Date` parses; when it ends in an offset (`Z`, `+01:00`, `-0500`) the date
 * is shown in that offset, otherwise in the local one.
 */
export function rfc2822Date(spec?: string, now: Date = new Date()): string {
  let d = now;
  let offset = -d.getTimezoneOffset();
  if (spec !== undefined) {
    d = new Date(spec);
    if (Number.isNaN(d.getTime())) throw new SeriesError(`--date: cannot read '${spec}' as a date`);
    const m = /(?:([+-])(\d\d):?(\d\d)|(Z|GMT|UTC))$/i.exec(spec.trim());
    if (m) offset = m[4] ? 0 : (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
    else offset = -d.getTimezoneOffset();
  }
  const t = new Date(d.getTime() + offset * 60_000);
  const pad = (n: number) => String(n).padStart(2, '0');
  const sign = offset < 0 ? '-' : '+';
  const a = Math.abs(offset);
  return (
    `${DAYS[t.getUTCDay()]}, ${t.getUTCDate()} ${MONTHS[t.getUTCMonth()]} ${t.getUTCFullYear()} ` +
    `${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${pad(t.getUTCSeconds())} ${sign}${pad(Math.floor(a / 60))}${pad(a % 60)}`
  );
}

// ---------------------------------------------------------------------------
// Text layout as git does it

const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';
const isAlnum = (c: string | undefined) => !!c && /[A-Za-z0-9]/.test(c);

/**
 * Git's `strbuf_add_wrapped_text`: fill words into lines of at most `width`
 * columns, the first line indented by `indent1` (a negative value: that many
 * columns are already used, as after `Subject: `), the others by `indent2`.
 * UTF-8 continuation bytes take no column.
 */
export function wrapText(text: string, width: number, indent1 = 0, indent2 = 0): string {
  let out = '';
  let pos = 0;
  let bol = 0;
  let indent = indent1;
  let w = indent1;
  let space: number | null = null;
  if (indent < 0) {
    w = -indent;
    space = 0;
  }
  for (;;) {
    const c = text[pos];
    if (c === undefined || isSpace(c)) {
      let newLine = false;
      if (w <= width || space === null) {
        let start = bol;
        if (c === undefined && pos === start) return out;
        if (space !== null) start = space;
        else out += ' '.repeat(Math.max(0, indent));
        out += text.slice(start, pos);
        if (c === undefined) return out;
        space = pos;
        if (c === '\t') w |= 7;
        else if (c === '\n') {
          space++;
          if (text[space] === '\n') {
            out += '\n';
            newLine = true;
          } else if (!isAlnum(text[space])) newLine = true;
          else out += ' ';
        }
        if (!newLine) {
          w++;
          pos++;
          continue;
        }
      }
      out += '\n';
      pos = bol = space! + (isSpace(text[space!]) ? 1 : 0);
      space = null;
      w = indent = indent2;
      continue;
    }
    const code = c.charCodeAt(0);
    if (!(code >= 0x80 && code < 0xc0)) w++;
    pos++;
  }
}

/** Paragraph `text` wrapped at 72 columns (commit messages). */
function paragraph(text: string): string {
  return wrapText(text.replace(/\s+/g, ' ').trim(), 72);
}

/** Git's file name for a subject: runs of other than [A-Za-z0-9._] become one '-', `..` one '.', no trailing '.' or '-'. */
export function sanitizeSubject(subject: string): string {
  let out = '';
  let space = 2;
  for (let i = 0; i < subject.length; i++) {
    const c = subject[i] === '\n' ? ' ' : subject[i];
    if (/[A-Za-z0-9._]/.test(c)) {
      if (space === 1) out += '-';
      space = 0;
      out += c;
      if (c === '.') while (subject[i + 1] === '.') i++;
    } else space |= 1;
  }
  return out.replace(/[.-]+$/, '');
}

/** `0001-subject.patch` / `v2-0001-subject.patch`, cut like git (64 columns with the suffix). */
export function patchFileName(nr: number, subject: string, reroll?: string): string {
  let name = reroll ? `${sanitizeSubject(`v${reroll}`)}-` : '';
  name += `${String(nr).padStart(4, '0')}-${sanitizeSubject(subject)}`;
  const max = 64 - ('.patch'.length + 1);
  return name.slice(0, max) + '.patch';
}

// RFC 2047 / RFC 822 for headers, as git's pretty.c writes them.

const nonAscii = (s: string) => /[^\x00-\x7f]/.test(s);

function needsRfc2047(s: string): boolean {
  return nonAscii(s) || s.includes('=?');
}

function rfc2047Special(ch: string, address: boolean): boolean {
  const code = ch.charCodeAt(0);
  if (code >= 0x7f || code < 0x20) return true;
  if (isSpace(ch) || ch === '=' || ch === '?' || ch === '_') return true;
  if (!address) return false;
  return !(isAlnum(ch) || ch === '!' || ch === '*' || ch === '+' || ch === '-' || ch === '/');
}

/** `=?UTF-8?q?...?=` for `s` (bytes), folded at 76 columns given `used` columns already on the line. */
export function rfc2047(s: string, used: number, address: boolean): string {
  const enc = 'UTF-8';
  let out = `=?${enc}?q?`;
  let lineLen = used + enc.length + 5;
  for (let i = 0; i < s.length; ) {
    // One character: a UTF-8 sequence is kept on one line.
    let j = i + 1;
    if (s.charCodeAt(i) >= 0xc0) while (j < s.length && s.charCodeAt(j) >= 0x80 && s.charCodeAt(j) < 0xc0) j++;
    const ch = s.slice(i, j);
    const special = [...ch].some((c) => rfc2047Special(c, address));
    const add = special ? 3 * ch.length : ch.length;
    if (lineLen + 2 + add > 76) {
      out += `?=\n =?${enc}?q?`;
      lineLen = enc.length + 5 + 1;
    }
    out += special ? [...ch].map((c) => '=' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')).join('') : ch;
    lineLen += add;
    i = j;
  }
  return out + '?=';
}

/** `Name <email>` for a From: header: RFC 2047 for non-ASCII names, quotes for RFC 822 specials. */
export function fromHeader(name: string, email: string): string {
  const lead = 'From: ';
  if (needsRfc2047(name)) return `${lead}${rfc2047(name, lead.length, true)} <${email}>`;
  if (/[()<>[\]:;@\\,."]/.test(name)) return `${lead}"${name.replace(/(["\\])/g, '\\$1')}" <${email}>`;
  return `${lead}${name} <${email}>`;
}

/** Decode RFC 2047 words (`=?UTF-8?q?..?=`, `?b?`) back to bytes. */
export function decodeRfc2047(s: string): string {
  return s.replace(/=\?[^?]+\?([qQbB])\?([^?]*)\?=(\s+(?==\?))?/g, (_m, kind: string, data: string) =>
    kind.toLowerCase() === 'b'
      ? Buffer.from(data, 'base64').toString('latin1')
      : data.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16))),
  );
}

/** The Subject: header, folded at 78 columns as git does (RFC 2047 when not ASCII). */
export function subjectHeader(tag: string, title: string): string {
  const lead = `Subject: ${tag ? `[${tag}] ` : ''}`;
  if (needsRfc2047(title)) return lead + rfc2047(title, lead.length, false);
  return lead + wrapText(title, 78, -lead.length, 1);
}

/** `To:`/`Cc:` as git writes extra headers: one address a line, `,` between. */
function addressHeader(name: 'To' | 'Cc', list: string[]): string {
  if (list.length === 0) return '';
  return `${name}: ` + list.map((a, i) => (i ? '    ' : '') + a + (i + 1 < list.length ? ',' : '')).join('\n') + '\n';
}

const MIME = 'MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n';

// ---------------------------------------------------------------------------
// Diffstat

export interface FileStat {
  /** The name, unquoted (see src/quote.ts); the diffstat quotes it as git does. */
  path: string;
  added: number;
  deleted: number;
}

/** Added and deleted lines per file of a unified diff with `diff --git` headers. */
export function diffCounts(diff: string): FileStat[] {
  const out: FileStat[] = [];
  const lines = diff.split('\n');
  let cur: FileStat | null = null;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    const g = l.startsWith('diff --git ') ? gitDiffPath(l.slice(11)) : null;
    if (g !== null) {
      cur = { path: g, added: 0, deleted: 0 };
      out.push(cur);
      continue;
    }
    const h = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/.exec(l);
    if (h && cur) {
      let oldLeft = h[1] === undefined ? 1 : Number(h[1]);
      let newLeft = h[2] === undefined ? 1 : Number(h[2]);
      while ((oldLeft > 0 || newLeft > 0) && i + 1 < lines.length) {
        const x = lines[++i];
        if (x.startsWith('\\')) continue;
        if (x.startsWith('+')) {
          cur.added++;
          newLeft--;
        } else if (x.startsWith('-')) {
          cur.deleted++;
          oldLeft--;
        } else {
          oldLeft--;
          newLeft--;
        }
      }
    }
  }
  return out;
}

/**
 * The new name of a `diff --git A B` line (`rest` is what follows `diff
 * --git `), without its `b/`: either name may be quoted as git quotes it; two
 * unquoted names, which may hold spaces, are the same name (git's rule).
 */
function gitDiffPath(rest: string): string | null {
  let b: string | null = null;
  if (rest.startsWith('"')) {
    const a = unquotePath(rest);
    if (a && rest[a.length] === ' ') b = rest.slice(a.length + 1);
  } else {
    const q = rest.indexOf(' "');
    if (q >= 0) b = rest.slice(q + 1);
    else if (rest.length % 2 === 1 && rest.slice(2, (rest.length - 1) / 2) === rest.slice((rest.length + 5) / 2)) b = rest.slice((rest.length + 1) / 2);
    else b = /^\S+ (\S+)/.exec(rest)?.[1] ?? null;
  }
  const name = b === null ? null : unquotePath(b)?.name;
  if (name === undefined || name === null) return null;
  return name.startsWith('b/') ? name.slice(2) : name;
}

function decimalWidth(n: number): number {
  return String(n).length;
}

/** Git's scale_linear: at least one column for any change. */
function scaleLinear(it: number, width: number, maxChange: number): number {
  if (!it) return 0;
  return 1 + Math.floor((it * (width - 1)) / maxChange);
}

/**
 * The diffstat as `git format-patch` prints it (git's show_stats with a
 * total width of 72): ` path | N ++--` lines, then the summary line.
 */
export function diffstat(files: FileStat[], width = 72): string {
  if (files.length === 0) return ' 0 files changed\n';
  let maxLen = 0;
  let maxChange = 0;
  for (const f of files) {
    maxLen = Math.max(maxLen, quotePath(f.path).length);
    maxChange = Math.max(maxChange, f.added + f.deleted);
  }
  const numberWidth = decimalWidth(maxChange);
  if (width < 16 + 6 + numberWidth) width = 16 + 6 + numberWidth;
  let graphWidth = maxChange;
  let nameWidth = maxLen;
  if (nameWidth + numberWidth + 6 + graphWidth > width) {
    if (graphWidth > Math.floor((width * 3) / 8) - numberWidth - 6) {
      graphWidth = Math.floor((width * 3) / 8) - numberWidth - 6;
      if (graphWidth < 6) graphWidth = 6;
    }
    if (nameWidth > width - numberWidth - 6 - graphWidth) nameWidth = width - numberWidth - 6 - graphWidth;
    else graphWidth = width - numberWidth - 6 - nameWidth;
  }
  let out = '';
  let adds = 0;
  let dels = 0;
  for (const f of files) {
    // git cuts the quoted name, as it prints it.
    let name = quotePath(f.path);
    let prefix = '';
    let len = nameWidth;
    if (nameWidth < name.length) {
      prefix = '...';
      len -= 3;
      if (len < 0) len = 0;
      name = name.slice(name.length - len);
      const slash = name.indexOf('/');
      if (slash >= 0) name = name.slice(slash);
    }
    let add = f.added;
    let del = f.deleted;
    if (graphWidth <= maxChange) {
      let total = scaleLinear(add + del, graphWidth, maxChange);
      if (total < 2 && add && del) total = 2;
      if (add < del) {
        add = scaleLinear(add, graphWidth, maxChange);
        del = total - add;
      } else {
        del = scaleLinear(del, graphWidth, maxChange);
        add = total - del;
      }
    }
    const n = f.added + f.deleted;
    out += ` ${prefix}${name.padEnd(len, ' ')} | ${String(n).padStart(numberWidth, ' ')}${n ? ' ' : ''}`;
    out += '+'.repeat(add) + '-'.repeat(del) + '\n';
    adds += f.added;
    dels += f.deleted;
  }
  return out + statSummary(files.length, adds, dels) + '\n';
}

/** ` 3 files changed, 10 insertions(+), 20 deletions(-)` as git words it. */
export function statSummary(files: number, ins: number, del: number): string {
  if (!files) return ' 0 files changed';
  let s = files === 1 ? ` ${files} file changed` : ` ${files} files changed`;
  if (ins || del === 0) s += ins === 1 ? `, ${ins} insertion(+)` : `, ${ins} insertions(+)`;
  if (del || ins === 0) s += del === 1 ? `, ${del} deletion(-)` : `, ${del} deletions(-)`;
  return s;
}

// ---------------------------------------------------------------------------
// Commit messages, from the sites and the transforms' wording

/** `a`, `a and b`, `a, b and c`. */
function listJoin(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** A reason's clauses: gupmod reasons are `; `-separated, the first saying what the code does. */
function clauses(reason: string): string[] {
  return reason
    .replace(/\.\s*$/, '')
    .split('; ')
    .map((c) => c.trim())
    .filter(Boolean);
}

/** Fill `{name}` placeholders; a `[[...]]` segment goes when a placeholder in it is empty. */
export function fillTemplate(template: string, vars: Record<string, string>): string {
  const t = template.replace(/\[\[([\s\S]*?)\]\]/g, (_m, inner: string) =>
    [...inner.matchAll(/\{(\w+)\}/g)].some((m) => !vars[m[1]]) ? '' : inner,
  );
  return t.replace(/\{(\w+)\}/g, (m, n: string) => (n in vars ? vars[n] : m));
}

/** The wording of a transform: its `meta.commitText`, or one made of its summary, help and the reasons. */
export function commitTextOf(id: string, meta: TransformMeta | undefined): CommitText {
  if (meta?.commitText) return meta.commitText;
  const help = meta?.help ? meta.help.trim().replace(/([^.])$/, '$1.') : '';
  return { subject: meta?.summary ?? `apply the ${id} rewrite`, site: '{function} calls {api}: {reason}.', why: help };
}

function functionOf(s: Site): string {
  return s.function ? `${s.function}()` : `the code at ${quotePath(s.file)}:${s.line}`;
}

function siteVars(s: Site, text: CommitText): Record<string, string> {
  const cl = clauses(s.reason);
  const omit = new Set(text.omit ?? []);
  return {
    function: functionOf(s),
    api: `${s.api}()`,
    what: cl[0] ?? '',
    notes: cl.slice(1).filter((c) => !omit.has(c)).join('; '),
    reason: cl.join('; '),
    s: '',
  };
}

interface TransformSites {
  id: string;
  text: CommitText;
  sites: Site[];
}

/** Sites grouped by transform, the transform with most sites first (ties: by id). */
function byTransform(sites: Site[], metaOf: (id: string) => TransformMeta | undefined): TransformSites[] {
  const m = new Map<string, Site[]>();
  for (const s of sites) m.set(s.transform, [...(m.get(s.transform) ?? []), s]);
  return [...m]
    .map(([id, list]) => ({ id, text: commitTextOf(id, metaOf(id)), sites: list }))
    .sort((a, b) => b.sites.length - a.sites.length || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function transformVars(t: TransformSites): Record<string, string> {
  const apis = [...new Set(t.sites.map((s) => `${s.api}()`))];
  return { apis: listJoin(apis), s: t.sites.length > 1 ? 's' : '' };
}

function sortSites(sites: Site[]): Site[] {
  return [...sites].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.column - b.column));
}

/** The summary (subject after the prefix) of a patch holding `groups`. */
function summaryOf(groups: TransformSites[], plural = false): string {
  if (groups.length === 0) return 'apply gupmod rewrites';
  const g = groups[0];
  return fillTemplate(g.text.subject, { ...transformVars(g), ...(plural ? { s: 's' } : {}) });
}

/**
 * The body of a commit message (after the subject): what each site did, why
 * the rewrite holds, the errno, the fixes; then the trailers.
 */
export function commitBody(sites: Site[], metaOf: (id: string) => TransformMeta | undefined, trailers: string[]): string {
  const groups = byTransform(sortSites(sites), metaOf);
  const paras: string[] = [];
  const push = (p: string) => {
    const t = p.replace(/\s+/g, ' ').trim();
    if (t && !paras.includes(t)) paras.push(t);
  };
  for (const s of sortSites(sites)) {
    const text = groups.find((g) => g.id === s.transform)!.text;
    push(fillTemplate(text.site, siteVars(s, text)));
  }
  for (const g of groups) push(fillTemplate(g.text.why, transformVars(g)));
  for (const g of groups) if (g.text.errno) push(fillTemplate(g.text.errno, transformVars(g)));
  for (const s of sortSites(sites)) {
    if (s.bugs.length === 0) continue;
    const text = groups.find((g) => g.id === s.transform)!.text;
    if (text.fix) push(fillTemplate(text.fix, siteVars(s, text)));
  }
  return paras.map(paragraph).join('\n\n') + '\n\n' + [...new Set(trailers)].join('\n') + '\n';
}

// ---------------------------------------------------------------------------
// The series

interface Author {
  name: string;
  email: string;
}

function parseIdent(s: string): Author | null {
  const m = /^\s*(.*?)\s*<([^<>\s]+@[^<>\s]+)>\s*$/.exec(s);
  if (!m) return null;
  return { name: m[1].replace(/^"(.*)"$/, '$1'), email: m[2] };
}

/** One mail of the series, before numbering. */
interface Mail {
  author: Author;
  /** The raw From: header line (core patch) or null to write it from `author`. */
  fromLine: string | null;
  date: string;
  /** Subject without the `[PATCH n/m]` tag. */
  title: string;
  /** Headers kept from a core patch (MIME and the like), each ending in '\n'. */
  extraHeaders: string;
  /** Everything after the headers' blank line. */
  rest: string;
  /** Whether `rest` holds non-ASCII in the commit message (MIME headers). */
  mime: boolean;
  stats: FileStat[];
  /** Files for the maintainers lookup, relative to the tree. */
  files: string[];
  recipients: Recipients;
}

function fileMode(abs: string): string {
  try {
    return statSync(abs).mode & 0o111 ? '100755' : '100644';
  } catch {
    return '100644';
  }
}

function findVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = path.join(dir, 'package.json');
    if (existsSync(p)) {
      try {
        const pkg = JSON.parse(readFileSync(p, 'utf8'));
        if (pkg.name === 'gupmod') return String(pkg.version);
      } catch {
        // keep looking
      }
    }
    dir = path.dirname(dir);
  }
  return '0';
}

/** Read a `git format-patch` mail: its headers and the rest. */
export function parsePatchMail(text: string, file: string): { from: string; date: string; title: string; extra: string; rest: string } {
  let t = text;
  if (t.startsWith('From ')) t = t.slice(t.indexOf('\n') + 1);
  const end = t.indexOf('\n\n');
  if (end < 0) throw new SeriesError(`${file}: not a patch mail (no blank line after the headers); make it with git format-patch`);
  const headerText = t.slice(0, end + 1);
  const rest = t.slice(end + 2);
  const headers: Array<[string, string]> = [];
  for (const line of headerText.split('\n')) {
    if (!line) continue;
    if (/^[ \t]/.test(line) && headers.length) {
      headers[headers.length - 1][1] += '\n' + line;
      continue;
    }
    const m = /^([\w-]+):[ \t]?(.*)$/.exec(line);
    if (!m) throw new SeriesError(`${file}: not a patch mail (line '${line.slice(0, 40)}' is not a header); make it with git format-patch`);
    headers.push([m[1], m[2]]);
  }
  const get = (name: string) => headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
  const subject = get('Subject');
  const from = get('From');
  if (subject === undefined || from === undefined) {
    throw new SeriesError(`${file}: not a patch mail (no From: or Subject: header); make it with git format-patch`);
  }
  const title = decodeRfc2047(subject.replace(/\n[ \t]+/g, ' '))
    .replace(/^\s*(\[[^\]]*\]\s*)+/, '')
    .trim();
  const extra = headers
    .filter(([k]) => !/^(from|date|subject|to|cc)$/i.test(k))
    .map(([k, v]) => `${k}: ${v}\n`)
    .join('');
  return { from: from.replace(/\n[ \t]+/g, ' '), date: get('Date') ?? '', title, extra, rest };
}

/** Insert `base-commit:` before the `-- ` signature of a mail, as git does in the first message. */
function withBase(text: string, base: string): string {
  const sig = text.lastIndexOf('\n-- \n');
  const line = `\nbase-commit: ${base}\n`;
  if (sig < 0) return text + line;
  return text.slice(0, sig + 1) + line + text.slice(sig + 1);
}

function mergeStats(stats: FileStat[]): FileStat[] {
  const m = new Map<string, FileStat>();
  for (const s of stats) {
    const c = m.get(s.path) ?? { path: s.path, added: 0, deleted: 0 };
    c.added += s.added;
    c.deleted += s.deleted;
    m.set(s.path, c);
  }
  return [...m.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function uniqueRecipients(list: Recipients[]): Recipients {
  const to: string[] = [];
  const cc: string[] = [];
  const seen = new Set<string>();
  for (const r of list) for (const a of r.to) if (!seen.has(bareAddress(a)) && seen.add(bareAddress(a))) to.push(a);
  for (const r of list) for (const a of r.cc) if (!seen.has(bareAddress(a)) && seen.add(bareAddress(a))) cc.push(a);
  return { to, cc };
}

/**
 * Build the series for `result` (nothing is written). Patches are grouped by
 * `opts.split`, ordered by their first file; the core patch, if any, comes
 * first.
 */
export function buildSeries(result: Pick<RunResult, 'sites' | 'changed'>, opts: SeriesOptions): Series {
  const warnings: string[] = [];
  const cwd = opts.cwd;
  const metaOf = opts.meta ?? ((id: string) => transformById(id)?.meta);
  const split = opts.split ?? 'subsystem';

  // Author and date.
  let author: Author | null;
  if (opts.from !== undefined) {
    author = parseIdent(bytesOf(opts.from));
    if (!author) throw new SeriesError(`--from: expected 'Name <email>', got '${opts.from}'`);
  } else {
    author = gitIdentity(cwd);
    if (!author) {
      throw new SeriesError("no author for the patches: pass --from 'Name <email>', or set git config user.name and user.email");
    }
  }
  const date = rfc2822Date(opts.date);
  const signature = opts.signature ?? `gupmod ${findVersion()}`;

  const core = opts.corePatch !== undefined ? readCorePatch(opts.corePatch) : null;
  if (result.changed.length === 0) return { files: [], warnings: ['no rewrites: no patch written'] };

  const repo: RepoInfo | null = repoInfo(cwd);
  const maint: Maintainers | null = split === 'subsystem' || opts.maintainers !== false ? readMaintainers(cwd) : null;

  // Groups.
  const groups = new Map<string, ChangedFile[]>();
  for (const c of [...result.changed].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    const dir = path.posix.dirname(c.path);
    let key: string;
    if (split === 'file') key = `file:${c.path}`;
    else if (split === 'dir') key = `dir:${dir}`;
    else {
      const s = maint ? sectionFor(maint, c.path) : null;
      key = s ? `section:${s.name}` : `dir:${dir}`;
    }
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }

  const mails: Mail[] = [];
  if (core) mails.push(core);
  for (const files of groups.values()) {
    const paths = files.map((f) => f.path);
    const inGroup = new Set(paths);
    const sites = result.sites.filter((s) => inGroup.has(s.file) && s.action === 'rewrite');
    const tsites = byTransform(sites, metaOf);

    // Subject: the prefix of the files' history, or one made from the path.
    let prefix: string | null = null;
    let capitalised = false;
    if (repo) {
      const p = mostUsedPrefix(recentSubjects(cwd, paths));
      if (p) ({ prefix, capitalised } = p);
    }
    if (!prefix) prefix = prefixFromPaths(paths);
    let summary = summaryOf(tsites);
    if (capitalised) summary = summary.charAt(0).toUpperCase() + summary.slice(1);
    const title = `${prefix} ${summary}`;

    // Trailers: Fixes: for sites with a bug, found in history.
    const trailers: string[] = [];
    if (repo) {
      for (const s of sortSites(sites)) {
        if (s.bugs.length === 0) continue;
        const c = introducingCommit(cwd, s.file, s.line);
        if (c) trailers.push(fixesTrailer(c));
        else warnings.push(`${quotePath(s.file)}:${s.line}: no commit found in history for a Fixes: tag`);
      }
    }
    trailers.push(`Signed-off-by: ${author.name} <${author.email}>`);
    const body = commitBody(sites, metaOf, trailers);

    // Diffs with blob ids, paths from the repository's top.
    const top = repo ? repo.prefix : '';
    let diffs = '';
    for (const f of files) {
      const index = `${blobId(f.before)}..${blobId(f.after)} ${fileMode(f.absPath)}`;
      diffs += fileDiff(top + f.path, f.before, f.after, { index });
    }
    const stats = diffCounts(diffs);
    const rest = `${body}---\n${diffstat(stats)}\n${diffs}`;
    mails.push({
      author,
      fromLine: null,
      date,
      title,
      extraHeaders: '',
      rest,
      mime: nonAscii(body) || nonAscii(title),
      stats,
      files: paths,
      recipients: { to: [], cc: [] },
    });
  }

  // Base commit: only when the touched files are as in HEAD.
  let base: string | null = null;
  if (repo) {
    const head = headCommit(cwd);
    if (head) {
      const blobs = headBlobs(cwd, result.changed.map((c) => c.path));
      const dirty = result.changed.filter((c) => blobs.get(c.path) !== blobId(c.before)).map((c) => c.path);
      if (dirty.length === 0) base = head;
      else warnings.push(`no base-commit: ${dirty.map(quotePath).join(', ')} differ${dirty.length === 1 ? 's' : ''} from HEAD`);
    }
  }

  // Numbering.
  const total = mails.length;
  const numbered = total > 1 || !!opts.coverLetter;
  const reroll = opts.rerollCount !== undefined && String(opts.rerollCount) !== '' ? String(opts.rerollCount) : undefined;
  const subjectPrefix = opts.subjectPrefix ?? 'PATCH';
  const tag = (n: number) =>
    [bytesOf(subjectPrefix), reroll ? `v${reroll}` : '', numbered ? `${String(n).padStart(String(total).length, '0')}/${total}` : '']
      .filter(Boolean)
      .join(' ');

  // Recipients.
  const useGetMaintainer = opts.maintainers !== false && hasGetMaintainer(cwd);
  let gmFailed = false;
  for (const m of mails) {
    let r: Recipients = { to: [], cc: [] };
    if (opts.maintainers !== false) {
      if (useGetMaintainer && !gmFailed) {
        const g = getMaintainerPl(cwd, renderMail(m, tag(1), null, signature));
        if ('error' in g) {
          gmFailed = true;
          warnings.push(`${g.error}; reading MAINTAINERS instead`);
        } else r = g;
      }
      if ((!useGetMaintainer || gmFailed) && maint) r = recipientsFor(maint, m.files);
    }
    m.recipients = override(r, opts);
  }

  const files: PatchFile[] = [];
  mails.forEach((m, i) => {
    let text = renderMail(m, tag(i + 1), m.recipients, signature);
    if (base && i === 0 && !opts.coverLetter) text = withBase(text, base);
    files.push({ name: patchFileName(i + 1, m.title, reroll), text });
  });

  if (opts.coverLetter) {
    const cover = coverLetter(mails, result.sites, {
      author,
      date,
      tag: tag(0),
      base,
      signature,
      split,
      core: !!core,
      metaOf,
      recipients: override(uniqueRecipients(mails.map((m) => m.recipients)), opts),
    });
    files.unshift({ name: reroll ? `${sanitizeSubject(`v${reroll}`)}-0000-cover-letter.patch` : '0000-cover-letter.patch', text: cover });
  }
  return { files, warnings };
}

function override(r: Recipients, opts: SeriesOptions): Recipients {
  const to = opts.to && opts.to.length ? opts.to.map(bytesOf) : r.to;
  const ccIn = opts.cc && opts.cc.length ? opts.cc.map(bytesOf) : r.cc;
  const inTo = new Set(to.map(bareAddress));
  return { to, cc: ccIn.filter((a) => !inTo.has(bareAddress(a))) };
}

function readCorePatch(file: string): Mail {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch (e) {
    throw new SeriesError(`--core-patch ${file}: ${(e as Error).message}`);
  }
  const p = parsePatchMail(text, file);
  const decoded = decodeRfc2047(p.from);
  const author = parseIdent(decoded) ?? { name: decoded.trim(), email: '' };
  const stats = diffCounts(p.rest);
  if (stats.length === 0) throw new SeriesError(`--core-patch ${file}: holds no diff`);
  const body = p.rest.split('\n---\n')[0];
  return {
    author,
    fromLine: `From: ${p.from}`,
    date: p.date,
    title: p.title,
    extraHeaders: p.extra.replace(/^(MIME-Version|Content-Type|Content-Transfer-Encoding):.*\n/gim, ''),
    rest: p.rest,
    mime: nonAscii(body) || nonAscii(p.title) || /^Content-Type:.*charset/im.test(p.extra),
    stats,
    files: stats.map((s) => s.path),
    recipients: { to: [], cc: [] },
  };
}

/** The mail text of one patch. `hash` of the From line: sha1 of its subject and content. */
function renderMail(m: Mail, tag: string, r: Recipients | null, signature: string): string {
  let head = `From ${sha1(m.title + '\n\n' + m.rest)} Mon Sep 17 00:00:00 2001\n`;
  head += (m.fromLine ?? fromHeader(m.author.name, m.author.email)) + '\n';
  head += `Date: ${m.date}\n`;
  head += subjectHeader(tag, m.title) + '\n';
  if (m.mime) head += MIME;
  head += m.extraHeaders;
  if (r) head += addressHeader('To', r.to) + addressHeader('Cc', r.cc);
  const rest = m.fromLine === null ? `${m.rest}-- \n${signature}\n\n` : m.rest;
  return `${head}\n${rest}`;
}

interface CoverOptions {
  author: Author;
  date: string;
  tag: string;
  base: string | null;
  signature: string;
  split: Split;
  core: boolean;
  metaOf: (id: string) => TransformMeta | undefined;
  recipients: Recipients;
}

/** A list item: `  text`, continuation lines indented by 4, at 72 columns. */
function item(text: string): string {
  return wrapText(text.replace(/\s+/g, ' ').trim(), 72, 2, 4);
}

function coverLetter(mails: Mail[], allSites: Site[], o: CoverOptions): string {
  const ours = mails.slice(o.core ? 1 : 0);
  const rewritten = allSites.filter((s) => s.action === 'rewrite');
  const groups = byTransform(sortSites(rewritten), o.metaOf);

  // Title: the core patch's prefix, else the one prefix all patches share, else treewide.
  const prefixes = [...new Set(ours.map((m) => subjectPrefix(m.title)?.prefix ?? ''))];
  const corePrefix = o.core ? subjectPrefix(mails[0].title)?.prefix : undefined;
  const prefix = corePrefix ?? (prefixes.length === 1 && prefixes[0] ? prefixes[0] : 'treewide:');
  const summaries = [...new Set(groups.map((g) => fillTemplate(g.text.subject, { ...transformVars(g), s: 's' })))];
  const title = `${prefix} ${listJoin(summaries)}`;

  const paras: string[] = [];
  // What the series relies on: the transforms' cover wording, else their help.
  let premise = [...new Set(groups.map((g) => g.text.cover ?? '').filter(Boolean))];
  if (premise.length === 0) premise = [...new Set(groups.map((g) => g.text.why).filter(Boolean))].slice(0, 1);
  for (const p of premise) paras.push(paragraph(p));
  const files = new Set(rewritten.map((s) => s.file));
  const unit = o.split === 'subsystem' ? 'subsystem' : o.split === 'dir' ? 'directory' : 'file';
  let intro =
    `This series rewrites ${rewritten.length} call site${rewritten.length === 1 ? '' : 's'} in ${files.size} ` +
    `file${files.size === 1 ? '' : 's'}, in ${ours.length} patch${ours.length === 1 ? '' : 'es'}, one per ${unit}.`;
  if (o.core) intro += ' The first patch is the core change that the others build on: they do not build without it.';
  paras.push(paragraph(intro));

  const byCat = new Map<string, number>();
  for (const s of rewritten) byCat.set(s.category, (byCat.get(s.category) ?? 0) + 1);
  paras.push('Sites rewritten, by category:\n' + [...byCat].map(([c, n]) => item(`${c}: ${n}`)).join('\n'));

  const bugs = sortSites(rewritten.filter((s) => s.bugs.length > 0));
  if (bugs.length) {
    paras.push(
      `Bugs fixed on the way (${bugs.length}):\n` +
        bugs.map((s) => item(`${quotePath(s.file)}:${s.line} ${functionOf(s)}: ${s.bugs.join(', ')}`)).join('\n'),
    );
  } else paras.push('Bugs fixed on the way: none.');

  const review = sortSites(allSites.filter((s) => s.action === 'review'));
  if (review.length) {
    paras.push(
      `Left for review, not changed by this series (${review.length}):\n` +
        review.map((s) => item(`${quotePath(s.file)}:${s.line} ${functionOf(s)} [${s.category}]: ${s.reason}`)).join('\n'),
    );
  }
  const leave = allSites.filter((s) => s.action === 'leave');
  if (leave.length) {
    const cats = new Map<string, number>();
    for (const s of leave) cats.set(s.category, (cats.get(s.category) ?? 0) + 1);
    const list = [...cats].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([c, n]) => `${c}: ${n}`);
    paras.push(paragraph(`Left alone: ${leave.length} other call site${leave.length === 1 ? '' : 's'} (${list.join(', ')}).`));
  }

  // Shortlog, as git's cover letter has it: authors by name, subjects in order.
  const byAuthor = new Map<string, string[]>();
  for (const m of mails) byAuthor.set(m.author.name, [...(byAuthor.get(m.author.name) ?? []), m.title]);
  const shortlog = [...byAuthor]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([name, titles]) => `${name} (${titles.length}):\n` + titles.map((t) => item(t) + '\n').join('') + '\n')
    .join('');

  const body = paras.join('\n\n') + '\n\n' + shortlog;
  let text = `From ${sha1(mails.map((m) => m.rest).join(''))} Mon Sep 17 00:00:00 2001\n`;
  text += fromHeader(o.author.name, o.author.email) + '\n';
  text += `Date: ${o.date}\n`;
  text += subjectHeader(o.tag, title) + '\n';
  if (nonAscii(body) || nonAscii(title)) text += MIME;
  text += addressHeader('To', o.recipients.to) + addressHeader('Cc', o.recipients.cc);
  text += `\n${body}${diffstat(mergeStats(mails.flatMap((m) => m.stats)))}\n`;
  if (o.base) text += `\nbase-commit: ${o.base}\n`;
  return `${text}-- \n${o.signature}\n\n`;
}

/** Build the series and write it into `outDir` (created if needed). Returns the paths written. */
export async function writeSeries(
  result: Pick<RunResult, 'sites' | 'changed'>,
  opts: SeriesOptions & { outDir: string },
): Promise<{ written: string[]; warnings: string[] }> {
  const series = buildSeries(result, opts);
  const dir = path.resolve(opts.cwd, opts.outDir);
  if (series.files.length) await fs.mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const f of series.files) {
    const p = path.join(dir, f.name);
    await fs.writeFile(p, Buffer.from(f.text, 'latin1'));
    written.push(p);
  }
  return { written, warnings: series.warnings };
}
