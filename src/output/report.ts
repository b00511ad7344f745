/** Reports of sites: text (the coccicheck form) and json. */
import { nameBytes, quotePath } from '../quote.js';
import type { Site } from '../types.js';

export function severityOf(s: Site): 'error' | 'warning' | 'note' {
  if (s.bugs.length) return 'error';
  if (s.action === 'rewrite' || s.action === 'review') return 'warning';
  return 'note';
}

/** Sites a report shows: with `all`, every site; else rewrites, reviews and bugs. */
export function reportable(sites: Site[], all: boolean): Site[] {
  return all ? sites : sites.filter((s) => s.action !== 'leave' || s.bugs.length > 0);
}

export function sortSites(sites: Site[]): Site[] {
  return [...sites].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.column - b.column));
}

export function textReport(sites: Site[]): string {
  return sortSites(sites)
    .map((s) => {
      const bugs = s.bugs.length ? ` [${s.bugs.join(',')}]` : '';
      return `${quotePath(s.file)}:${s.line}:${s.column}: ${severityOf(s)}: [${s.transform}] ${s.api}: ${s.category}, ${s.action}${bugs}: ${s.reason}\n`;
    })
    .join('');
}

export function jsonReport(sites: Site[]): string {
  const clean = sortSites(sites).map((s) => ({
    // Output is written as latin1 bytes (the texts are the file's bytes): the name as its UTF-8 bytes.
    file: nameBytes(s.file).toString('latin1'),
    line: s.line,
    column: s.column,
    function: s.function,
    api: s.api,
    category: s.category,
    action: s.action,
    bugs: s.bugs,
    reason: s.reason,
  }));
  return JSON.stringify(clean, null, 2) + '\n';
}
