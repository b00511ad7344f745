/**
 * Sites no transform claimed, classified from the call and the use of its
 * result: one page, a loop that pins a chunk at a time, a caller that uses
 * however many pages it got, or unknown. All are left alone.
 */
import type { Node, ParsedFile } from '../src/parse/index.js';
import { insideError } from '../src/parse/index.js';
import { identUses, isIdent, unparen } from '../src/c/syntax.js';
import type { Category, Site } from '../src/types.js';
import { GupCall, findGupCalls, siteFor } from './common.js';

const LOOPS = /^(for|while|do)_statement$/;

function classify(g: GupCall): { category: Category; reason: string } {
  const count = g.sig ? unparen(g.args[g.sig.count]).text : null;
  if (count !== null && /^1[uUlL]*$/.test(count)) return { category: 'single-page', reason: 'pins one page: no partial result is possible' };
  if (!g.api.rewritable) {
    return { category: 'partial-ok', reason: `${g.api.name} may pin fewer pages and must not sleep or fault: never rewritten` };
  }
  // Inside an ERROR node the tree is the parser's guess (an #if whose
  // branches each open a brace, a macro it does not know): the loops and
  // uses around the call are not to be trusted.
  if (insideError(g.call)) return { category: 'unknown', reason: 'the code around the call does not parse cleanly (an #if or a macro the parser does not follow?)' };
  const fn = g.fn;
  for (let n: Node | null = g.call.parent; n && n !== fn; n = n.parent) {
    if (LOOPS.test(n.type)) return { category: 'chunked-loop', reason: 'pins in a loop, a chunk at a time, and consumes what each call returns' };
  }
  // Where does the result go?
  const p = g.call.parent;
  if (p?.type === 'return_statement') return { category: 'partial-ok', reason: 'returns the count it pinned to its caller' };
  let result: string | null = null;
  if (p?.type === 'assignment_expression' && isIdent(unparen(p.childForFieldName('left')!))) result = unparen(p.childForFieldName('left')!).text;
  if (p?.type === 'init_declarator') result = p.childForFieldName('declarator')?.text ?? null;
  if (result && fn) {
    const later = identUses(fn, result).filter((u) => u.startIndex > g.call.endIndex);
    if (later.some((u) => u.parent?.type === 'return_statement')) return { category: 'partial-ok', reason: `returns the count it pinned (${result}) to its caller` };
    const asCount = later.some((u) => u.parent?.type === 'argument_list' || (u.parent?.type === 'assignment_expression' && u.parent.childForFieldName('right')?.startIndex === u.startIndex));
    if (asCount) return { category: 'partial-ok', reason: `uses however many pages it got (${result}) without comparing with the requested count` };
  }
  return { category: 'unknown', reason: 'no transform recognises this use of the result' };
}

export function fallbackSites(file: ParsedFile, claimed: Set<number>): Site[] {
  const out: Site[] = [];
  for (const g of findGupCalls(file)) {
    if (claimed.has(g.call.startIndex)) continue;
    const c = classify(g);
    out.push(siteFor(file, g, { category: c.category, action: 'leave', reason: c.reason, transform: 'gup' }));
  }
  return out;
}
