/** Sites no transform claimed: classified from the call alone. */
import type { ParsedFile } from '../src/parse/index.js';
import { unparen } from '../src/c/syntax.js';
import type { Site } from '../src/types.js';
import { findGupCalls, siteFor } from './common.js';

export function fallbackSites(file: ParsedFile, claimed: Set<number>): Site[] {
  const out: Site[] = [];
  for (const g of findGupCalls(file)) {
    if (claimed.has(g.call.startIndex)) continue;
    const count = g.sig ? unparen(g.args[g.sig.count]).text : null;
    if (count === '1' || count === '1UL' || count === '1U') {
      out.push(siteFor(file, g, { category: 'single-page', action: 'leave', reason: 'pins one page: no partial result is possible', transform: 'gup' }));
    } else if (!g.api.rewritable) {
      out.push(siteFor(file, g, { category: 'unknown', action: 'leave', reason: `${g.api.name} must not sleep or fault: never rewritten`, transform: 'gup' }));
    } else {
      out.push(siteFor(file, g, { category: 'unknown', action: 'leave', reason: 'no transform recognises this use of the result', transform: 'gup' }));
    }
  }
  return out;
}
