/**
 * The kernel's MAINTAINERS file, read the way scripts/get_maintainer.pl
 * reads it: which section owns a file (the most specific `F:` pattern,
 * honouring `X:`), and who to mail. When the tree holds
 * scripts/get_maintainer.pl, `getMaintainerPl` runs it on a patch instead,
 * as kernel developers do; the parser here is the fallback and the source of
 * the per-subsystem split.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';

export interface Entry {
  type: string;
  value: string;
}

export interface Section {
  /** The section title, e.g. `DRM DRIVERS FOR VIVANTE GPU IP`. */
  name: string;
  /** Position in the file (earlier sections win ties). */
  index: number;
  entries: Entry[];
  /** Compiled F:, X: and N: patterns. */
  files: FilePattern[];
  excludes: FilePattern[];
  regexes: RegExp[];
}

interface FilePattern {
  re: RegExp;
  /** The pattern ends in `/`: it matches everything under the directory. */
  dir: boolean;
  slashes: number;
  /** get_maintainer.pl's pattern depth: how specific the pattern is. */
  depth: number;
}

export interface Maintainers {
  sections: Section[];
  /** The tree's .mailmap, applied to M: and R: addresses as get_maintainer.pl does. */
  mailmap?: Mailmap;
}

export interface Mailmap {
  /** Proper name by `Name <addr>` or by bare address. */
  names: Map<string, string>;
  /** Proper address by `Name <addr>` or by bare address. */
  addresses: Map<string, string>;
}

/** `Name <addr>` or `addr` into its parts, quotes dropped (get_maintainer.pl's parse_email). */
export function parseEmail(s: string): { name: string; address: string } {
  let name = '';
  let address = '';
  let m: RegExpExecArray | null;
  if ((m = /^([^<]+)<(.+@.*)>.*$/.exec(s))) {
    name = m[1];
    address = m[2];
  } else if ((m = /^\s*<(.+@\S*)>.*$/.exec(s))) address = m[1];
  else if ((m = /^(.+@\S*).*$/.exec(s))) address = m[1];
  return { name: name.trim().replace(/^"|"$/g, ''), address: address.trim() };
}

/** `Name <addr>`, the name quoted when it holds other than letters, digits, `_`, ` ` and `-` (get_maintainer.pl's format_email). */
export function formatEmail(name: string, address: string): string {
  let n = name.trim().replace(/^"|"$/g, '');
  if (/[^A-Za-z0-9_ -]/.test(n)) n = `"${n.replace(/(?<!\\)"/g, '\\"')}"`;
  return n ? `${n} <${address.trim()}>` : address.trim();
}

/** Parse a .mailmap (the forms git-shortlog documents). */
export function parseMailmap(text: string): Mailmap {
  const mm: Mailmap = { names: new Map(), addresses: new Map() };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    let m: RegExpExecArray | null;
    if ((m = /^([^<]+)<([^>]+)>$/.exec(line))) {
      const e = parseEmail(`${m[1].trim()} <${m[2]}>`);
      mm.names.set(e.address, e.name);
    } else if ((m = /^<([^>]+)>\s*<([^>]+)>$/.exec(line))) {
      mm.addresses.set(m[2], m[1]);
    } else if ((m = /^(.+)<([^>]+)>\s*<([^>]+)>$/.exec(line))) {
      const e = parseEmail(`${m[1].trim()} <${m[2]}>`);
      mm.names.set(m[3], e.name);
      mm.addresses.set(m[3], e.address);
    } else if ((m = /^(.+)<([^>]+)>\s*([^\s<]+)\s*<([^>]+)>$/.exec(line))) {
      const real = parseEmail(`${m[1].trim()} <${m[2]}>`);
      const wrong = parseEmail(`${m[3].trim()} <${m[4]}>`);
      const key = formatEmail(wrong.name, wrong.address);
      mm.names.set(key, real.name);
      mm.addresses.set(key, real.address);
    }
  }
  return mm;
}

/** An address as the mailmap would have it, formatted like get_maintainer.pl. */
export function mailmapEmail(line: string, mm: Mailmap | undefined): string {
  const { name, address } = parseEmail(line);
  if (!mm) return formatEmail(name, address);
  const key = formatEmail(name, address);
  let realName = name;
  let realAddress = address;
  if (mm.names.has(key) || mm.addresses.has(key)) {
    realName = mm.names.get(key) ?? realName;
    realAddress = mm.addresses.get(key) ?? realAddress;
  } else {
    realName = mm.names.get(address) ?? realName;
    realAddress = mm.addresses.get(address) ?? realAddress;
  }
  return formatEmail(realName, realAddress);
}

export interface Recipients {
  to: string[];
  cc: string[];
}

/**
 * Parse MAINTAINERS text. `isDir(p)` says whether `p` (relative to the tree)
 * is a directory: like get_maintainer.pl, an `F:` naming a directory without
 * a trailing slash gets one.
 */
export function parseMaintainers(text: string, isDir: (p: string) => boolean = () => false): Maintainers {
  const sections: Section[] = [];
  let cur: Section | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const m = /^([A-Z]):\s*(.*)$/.exec(line);
    if (m) {
      if (!cur) continue;
      const type = m[1];
      const value = m[2].trim();
      cur.entries.push({ type, value });
      if (type === 'F' || type === 'X') {
        const p = compileFilePattern(value, isDir);
        if (p) (type === 'F' ? cur.files : cur.excludes).push(p);
      } else if (type === 'N') {
        try {
          // Perl's /x: whitespace in the pattern is not significant.
          cur.regexes.push(new RegExp(value.replace(/\s+/g, '')));
        } catch {
          // A pattern JavaScript cannot read matches nothing.
        }
      }
      continue;
    }
    if (/^\s*$/.test(line) || /^\s*#/.test(line)) continue;
    cur = { name: line.trim(), index: sections.length, entries: [], files: [], excludes: [], regexes: [] };
    sections.push(cur);
  }
  return { sections: sections.filter((s) => s.entries.length > 0) };
}

function compileFilePattern(value: string, isDir: (p: string) => boolean): FilePattern | null {
  let v = value.replace(/\./g, '\\.').replace(/\*/g, '.*').replace(/\?/g, '.');
  if (!v.endsWith('/') && isDir(v)) v += '/';
  let re: RegExp;
  try {
    re = new RegExp('^' + v);
  } catch {
    return null;
  }
  const slashes = count(v, '/');
  let depth = slashes + (v.endsWith('/') ? 0 : 1);
  if (v.startsWith('.*')) depth = -1;
  return { re, dir: v.endsWith('/'), slashes, depth };
}

function count(s: string, ch: string): number {
  let n = 0;
  for (const c of s) if (c === ch) n++;
  return n;
}

function patternMatches(p: FilePattern, file: string): boolean {
  if (!p.re.test(file)) return false;
  return p.dir || count(file, '/') === p.slashes;
}

/** MAINTAINERS of the tree at `tree`, or null when it has none. */
export function readMaintainers(tree: string): Maintainers | null {
  const file = path.join(tree, 'MAINTAINERS');
  if (!existsSync(file) || !statSync(file).isFile()) return null;
  const text = readFileSync(file, 'latin1');
  const m = parseMaintainers(text, (p) => {
    try {
      return statSync(path.join(tree, p)).isDirectory();
    } catch {
      return false;
    }
  });
  const mailmap = path.join(tree, '.mailmap');
  if (existsSync(mailmap)) m.mailmap = parseMailmap(readFileSync(mailmap, 'latin1'));
  return m;
}

export interface SectionMatch {
  section: Section;
  /** Depth of the most specific pattern that matched (N: counts 0). */
  depth: number;
}

/**
 * Every section owning `file` (a path relative to the tree), most specific
 * first; ties keep file order. A section with an `X:` matching the file does
 * not own it.
 */
export function sectionsFor(m: Maintainers, file: string): SectionMatch[] {
  const out: SectionMatch[] = [];
  for (const s of m.sections) {
    if (s.excludes.some((x) => patternMatches(x, file))) continue;
    let depth: number | null = null;
    for (const f of s.files) if (patternMatches(f, file)) depth = Math.max(depth ?? -Infinity, f.depth);
    for (const r of s.regexes) if (r.test(file)) depth = Math.max(depth ?? -Infinity, 0);
    if (depth !== null) out.push({ section: s, depth });
  }
  return out.sort((a, b) => b.depth - a.depth || a.section.index - b.section.index);
}

/**
 * The section that owns `file`: its most specific match, or null when none
 * does but a catch-all pattern (THE REST's `F: *`, depth -1).
 */
export function sectionFor(m: Maintainers, file: string): Section | null {
  const best = sectionsFor(m, file)[0];
  return best && best.depth >= 0 ? best.section : null;
}

/** The status line of a section, lower case ('' when none). */
function status(s: Section): string {
  return (s.entries.find((e) => e.type === 'S')?.value ?? '').toLowerCase();
}

/** The address of an `M:`/`R:`/`L:` value: a person through the mailmap and quoted as needed, a list without its note. */
function addressOf(e: Entry, mm: Mailmap | undefined): string | null {
  const v = e.value.trim();
  if (!v) return null;
  if (e.type === 'L') {
    if (/subscribers-only/.test(v)) return null;
    return v.split(/\s+/)[0];
  }
  return parseEmail(v).address ? mailmapEmail(v, mm) : null;
}

/** The bare address in `Name <a@b>` or `a@b`, lower case, to compare recipients. */
export function bareAddress(a: string): string {
  const m = /<([^>]*)>/.exec(a);
  return (m ? m[1] : a).trim().toLowerCase();
}

/** Add `a` to `list` unless its address is in `seen`. */
function addUnique(list: string[], seen: Set<string>, a: string): void {
  const k = bareAddress(a);
  if (seen.has(k)) return;
  seen.add(k);
  list.push(a);
}

/**
 * Recipients for patches touching `files`, from MAINTAINERS alone: the `M:`
 * of every owning section To (the chief penguin of THE REST excepted, as
 * get_maintainer.pl does), `R:` and `L:` Cc; people through the tree's
 * .mailmap. Unlike get_maintainer.pl, no `K:` keywords and no git history.
 */
export function recipientsFor(m: Maintainers, files: string[]): Recipients {
  const to: string[] = [];
  const cc: string[] = [];
  const seen = new Set<string>();
  const matches = files.flatMap((f) => sectionsFor(m, f));
  const sections = [...new Map(matches.sort((a, b) => b.depth - a.depth).map((x) => [x.section.index, x.section])).values()];
  for (const s of sections) {
    for (const e of s.entries) {
      if (e.type !== 'M') continue;
      if (status(s) === 'buried alive in reporters') continue;
      const a = addressOf(e, m.mailmap);
      if (a) addUnique(to, seen, a);
    }
  }
  for (const s of sections) {
    for (const e of s.entries) {
      if (e.type !== 'R') continue;
      const a = addressOf(e, m.mailmap);
      if (a) addUnique(cc, seen, a);
    }
  }
  for (const s of sections) {
    for (const e of s.entries) {
      if (e.type !== 'L') continue;
      const a = addressOf(e, m.mailmap);
      if (a) addUnique(cc, seen, a);
    }
  }
  return { to, cc };
}

const TO_ROLES = /(?:^|,)\s*(?:maintainer|supporter|odd fixer|orphan minder|obsolete minder|chief penguin)(?::|,|$)/;

/**
 * Parse get_maintainer.pl's default output (`address (role:SECTION,...)`
 * per line): maintainers To, everyone else (reviewers, lists, signers) Cc.
 */
export function parseGetMaintainerOutput(out: string): Recipients {
  const to: string[] = [];
  const cc: string[] = [];
  const seen = new Set<string>();
  for (const raw of out.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    let addr: string;
    let rest: string;
    const gt = line.indexOf('>');
    if (line.includes('<') && gt > 0) {
      addr = line.slice(0, gt + 1);
      rest = line.slice(gt + 1).trim();
    } else {
      const sp = line.search(/\s/);
      addr = sp < 0 ? line : line.slice(0, sp);
      rest = sp < 0 ? '' : line.slice(sp).trim();
    }
    const roles = rest.replace(/^\(/, '').replace(/\)$/, '');
    addUnique(TO_ROLES.test(roles) ? to : cc, seen, addr);
  }
  return { to, cc };
}

/** The tree's own scripts/get_maintainer.pl, when it has one and MAINTAINERS. */
export function hasGetMaintainer(tree: string): boolean {
  return existsSync(path.join(tree, 'scripts', 'get_maintainer.pl')) && existsSync(path.join(tree, 'MAINTAINERS'));
}

/**
 * Run the tree's scripts/get_maintainer.pl on `patch` (fed on stdin, so the
 * patch's own lines count for `K:` keywords as when run on a patch file).
 * `--no-tree` lets it run in a partial copy of a tree; `--no-git-fallback`
 * keeps the answer to MAINTAINERS (no guessing from history). Returns null,
 * with the reason, when it cannot run.
 */
export function getMaintainerPl(tree: string, patch: string): Recipients | { error: string } {
  const r = spawnSync('perl', ['scripts/get_maintainer.pl', '--no-tree', '--no-git-fallback'], {
    cwd: tree,
    input: Buffer.from(patch, 'latin1'),
    encoding: 'latin1',
    maxBuffer: 64 << 20,
  });
  if (r.error) return { error: `scripts/get_maintainer.pl: ${r.error.message}` };
  if (r.status !== 0) return { error: `scripts/get_maintainer.pl failed: ${(r.stderr || '').trim().split('\n')[0]}` };
  return parseGetMaintainerOutput(r.stdout);
}

/** Directory names that say where a driver sits, not which it is. */
const GENERIC_DIRS = new Set(['hw', 'sw', 'pci', 'usb', 'platform', 'common', 'devices', 'host']);

/**
 * A subsystem prefix for a commit subject derived from the paths of a
 * patch's files, for trees without git history to learn from. The common
 * directory loses a leading `drivers/`, `fs/`, `arch/` and `gpu/`; DRM keeps
 * its whole path (`drm/etnaviv:`, `drm/i915/gem:`); InfiniBand is written
 * `RDMA/<driver>:` and architecture code `<arch>/<dir>:`, the driver being
 * the deepest directory that is not a placement like `hw/` or `pci/`; other
 * subsystems take `first: <driver>:` (`media: ivtv:`, `misc: habanalabs:`).
 * A single directory gives `dir:` (`orangefs:`, `rapidio:`), or for one file
 * `dir: file:` under drivers/ (`misc: xilinx_sdfec:`) and `dir/file:`
 * elsewhere (`mm/gup:`).
 */
export function prefixFromPaths(paths: string[]): string {
  const dirs = paths.map((p) => p.split('/').slice(0, -1));
  let n = dirs[0]?.length ?? 0;
  for (const d of dirs) {
    let i = 0;
    while (i < n && i < d.length && d[i] === dirs[0][i]) i++;
    n = i;
  }
  let parts = (dirs[0] ?? []).slice(0, n);
  let slash = false;
  const top = parts[0];
  if (parts.length > 1 && (parts[0] === 'drivers' || parts[0] === 'fs')) parts = parts.slice(1);
  if (parts.length > 1 && parts[0] === 'arch') {
    parts = parts.slice(1);
    slash = true;
  }
  if (parts.length > 1 && parts[0] === 'gpu') parts = parts.slice(1);
  if (parts[0] === 'drm') return `${parts.join('/')}:`;
  if (parts[0] === 'infiniband') {
    parts = ['RDMA', ...parts.slice(1)];
    slash = true;
  }
  if (parts.length === 0) return 'treewide:';
  // The driver: the deepest directory that is not a placement.
  let k = parts.length - 1;
  while (k > 0 && GENERIC_DIRS.has(parts[k])) k--;
  const trimmed = k < parts.length - 1;
  parts = parts.slice(0, k + 1);
  if (parts.length === 1) {
    const files = new Set(paths.map((p) => p.split('/').pop()!.replace(/\.[^.]*$/, '')));
    const file = files.size === 1 && !slash && !trimmed && n === dirs[0].length ? [...files][0] : null;
    if (!file || top === 'fs') return `${parts[0]}:`;
    return top === 'drivers' ? `${parts[0]}: ${file}:` : `${parts[0]}/${file}:`;
  }
  const first = parts[0];
  const last = parts[parts.length - 1];
  return slash ? `${first}/${last}:` : `${first}: ${last}:`;
}
