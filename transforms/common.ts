/**
 * GUP knowledge and error-path helpers shared by the transforms: finding the
 * calls, adding FOLL_COMPLETE to the flags, recognising a release of pinned
 * pages, and repairing a goto label that the pin failure must no longer reach.
 */
import type { Node, ParsedFile } from '../src/parse/index.js';
import { enclosingFunction, functionName, functionsNamed } from '../src/parse/index.js';
import {
  blockStatements,
  callArgs,
  callName,
  contains,
  declaredName,
  declarators,
  identUses,
  isIdent,
  oneLine,
  sameExpr,
  statementCall,
  unparen,
  writesTo,
} from '../src/c/syntax.js';
import { deleteLines, deleteNodeLines, lineEnd, lineStart, startsLine } from '../src/c/text.js';
import { someCallInCode } from '../src/c/lex.js';
import type { Edit, Site } from '../src/types.js';
import {
  ARRAY_RELEASES,
  COMPLETE_FLAG,
  GupApi,
  GupSignature,
  PAGE_RELEASES,
  gupApi,
  signatureFor,
} from './gup-api.js';

export interface GupCall {
  call: Node;
  name: Node;
  api: GupApi;
  sig: GupSignature | undefined;
  args: Node[];
  fn: Node | null;
}

const GUP_NAME = /\b(?:get|pin)_user_pages\w*/g;

/**
 * False when the text cannot hold a GUP call, decided without parsing (see
 * src/c/lex.ts): a third of the files that mention a GUP name do so only in
 * comments, messages or prototypes' neighbours, and parsing is most of a
 * run's cost. True is only a maybe: a prototype is call-shaped too.
 */
export function mayCallGup(text: string): boolean {
  return someCallInCode(text, GUP_NAME, (name) => gupApi(name) !== undefined);
}

/**
 * Why the statement holding a GUP call cannot be edited as a line of its
 * own, or null: `return -ENOMEM; FOO` + `ret = gup(...)` on the next line
 * parse as the one declaration `FOO ret = gup(...)`, a macro the parser does
 * not know gluing the two.
 */
export function gluedToLineBefore(text: string, stmt: Node): string | null {
  return startsLine(text, stmt.startIndex)
    ? null
    : 'the statement holding the GUP call shares its line with code before it (a macro the parser does not know?)';
}

const callCache = new WeakMap<ParsedFile, GupCall[]>();

/** Every call of the GUP family in a file. */
export function findGupCalls(file: ParsedFile): GupCall[] {
  const cached = callCache.get(file);
  if (cached) return cached;
  const out: GupCall[] = [];
  // Find the names in the text, then ask the tree for the node there: much
  // cheaper than visiting every identifier of a large file.
  for (const m of file.text.matchAll(GUP_NAME)) {
    const id = file.root.descendantForIndex(m.index!, m.index! + m[0].length);
    if (id.type !== 'identifier' || id.startIndex !== m.index || id.endIndex !== m.index! + m[0].length) continue;
    const api = gupApi(id.text);
    const n = id.parent;
    if (!api || !n || n.type !== 'call_expression' || n.childForFieldName('function')?.startIndex !== id.startIndex) continue;
    const args = callArgs(n);
    out.push({ call: n, name: id, api, sig: signatureFor(api, args.length), args, fn: enclosingFunction(n) });
  }
  callCache.set(file, out);
  return out;
}

/** A site object for a call, to be completed by the transform. */
export function siteFor(file: ParsedFile, g: GupCall, fields: Pick<Site, 'category' | 'action' | 'reason' | 'transform'>): Site {
  return {
    file: file.path,
    line: g.name.startPosition.row + 1,
    column: g.name.startPosition.column + 1,
    function: g.fn ? functionName(g.fn) : null,
    api: g.api.name,
    bugs: [],
    ...fields,
  };
}

const LOOSER_THAN_OR = new Set(['conditional_expression', 'assignment_expression', 'comma_expression']);
const BOOLEAN_OPS = new Set(['&&', '||', '==', '!=', '<', '>', '<=', '>=']);

/**
 * The flags argument with FOLL_COMPLETE added, or a reason to refuse when the
 * argument is not a flags expression.
 */
export function completeFlags(flags: Node, fn: Node | null): { text: string } | { refuse: string } {
  const e = unparen(flags);
  const text = oneLine(flags.text);
  if (e.type === 'number_literal') {
    if (e.text === '0') return { text: COMPLETE_FLAG };
    return { refuse: `flags argument is the number ${e.text}, not a flags expression` };
  }
  if (e.type === 'unary_expression' && e.child(0)?.text === '!') {
    return { refuse: `flags argument \`${text}\` is a boolean, equal to FOLL_WRITE only by value` };
  }
  if (e.type === 'binary_expression') {
    const op = e.childForFieldName('operator')?.text ?? '';
    if (BOOLEAN_OPS.has(op)) {
      return { refuse: `flags argument \`${text}\` is a boolean, equal to FOLL_WRITE only by value` };
    }
  }
  if (e.type === 'identifier' && fn && isBooleanVariable(fn, e.text)) {
    return { refuse: `flags argument \`${text}\` is a boolean, equal to FOLL_WRITE only by value` };
  }
  if (/\bFOLL_COMPLETE\b/.test(text)) return { refuse: 'flags already hold FOLL_COMPLETE' };
  if (LOOSER_THAN_OR.has(e.type) || (e.type === 'binary_expression' && /^(&&|\|\|)$/.test(e.childForFieldName('operator')?.text ?? ''))) {
    return { text: `(${oneLine(e.text)}) | ${COMPLETE_FLAG}` };
  }
  return { text: `${text} | ${COMPLETE_FLAG}` };
}

/** A variable declared `bool`, or named like a write/dirty boolean, in the function. */
function isBooleanVariable(fn: Node, name: string): boolean {
  let declaredBool = false;
  let found = false;
  // descendantsOfType: found by the parser, in document order, without a walk in JavaScript.
  for (const n of fn.descendantsOfType(['declaration', 'parameter_declaration'])) {
    const ds = n.type === 'declaration' ? declarators(n) : [n.childForFieldName('declarator')].filter(Boolean) as Node[];
    for (const d of ds) {
      if (declaredName(d) === name) {
        found = true;
        const type = n.childForFieldName('type')?.text ?? '';
        if (/^(bool|_Bool)$/.test(type)) declaredBool = true;
      }
    }
  }
  if (declaredBool) return true;
  return found ? /^(write|writ|writable|writeable|dirty|rw|is_write|make_dirty)$/.test(name) : false;
}

/** A release of pinned pages: `fn(pages, count, ...)` or a per-page loop, maybe guarded. */
export interface Release {
  stmt: Node;
  /** Text of the pages array released. */
  pages: string;
  /** The count expression node. */
  count: Node;
  /** Loop index variable of a per-page release loop. */
  index?: string;
}

/**
 * Recognise `stmt` as a release of pages. Forms: an array release
 * (`unpin_user_pages(p, n)`), a same-file helper whose body is one array
 * release of its parameters, a `for (i = 0; i < n; i++) put_page(p[i]);`
 * loop, each possibly guarded by `if (n)` / `if (n > 0)`.
 */
export function releaseOf(stmt: Node, file: ParsedFile): Release | null {
  if (stmt.type === 'if_statement' && !stmt.childForFieldName('alternative')) {
    const cond = unparen(stmt.childForFieldName('condition')!);
    const inner = blockStatements(stmt.childForFieldName('consequence')!);
    if (inner.length !== 1) return null;
    const r = releaseOf(inner[0], file);
    if (!r) return null;
    const guard = cond.type === 'binary_expression' ? cond.childForFieldName('left') : cond;
    const op = cond.type === 'binary_expression' ? cond.childForFieldName('operator')?.text : null;
    const rhs = cond.type === 'binary_expression' ? cond.childForFieldName('right')?.text : null;
    const guardOk = guard && sameExpr(guard, r.count) && (op === null || ((op === '>' || op === '!=') && rhs === '0'));
    return guardOk ? { ...r, stmt } : null;
  }
  const call = statementCall(stmt);
  if (call) {
    const name = callName(call);
    const args = callArgs(call);
    const known = name ? ARRAY_RELEASES.get(name) : undefined;
    if (known && args.length > known.count) {
      return { stmt, pages: args[known.pages].text, count: args[known.count] };
    }
    const helper = name ? releaseHelper(file, name) : null;
    if (helper && args.length === helper.params) {
      return { stmt, pages: args[helper.pages].text, count: args[helper.count] };
    }
    return null;
  }
  if (stmt.type === 'for_statement') return releaseLoop(stmt);
  return null;
}

/** `for (i = 0; i < n; i++) put_page(p[i]);` */
function releaseLoop(loop: Node): Release | null {
  const init = loop.childForFieldName('initializer');
  const cond = loop.childForFieldName('condition');
  const update = loop.childForFieldName('update');
  const body = loop.childForFieldName('body');
  if (!init || !cond || !update || !body) return null;
  const a = unparen(init);
  if (a.type !== 'assignment_expression' || a.childForFieldName('right')?.text !== '0') return null;
  const i = a.childForFieldName('left');
  if (!isIdent(i)) return null;
  const c = unparen(cond);
  if (c.type !== 'binary_expression' || c.childForFieldName('operator')?.text !== '<') return null;
  if (!sameExpr(c.childForFieldName('left')!, i!)) return null;
  const u = unparen(update);
  if (!(u.type === 'update_expression' && u.childForFieldName('operator')?.text === '++' && sameExpr(u.childForFieldName('argument')!, i!))) return null;
  const stmts = blockStatements(body);
  if (stmts.length !== 1) return null;
  const call = statementCall(stmts[0]);
  if (!call || !PAGE_RELEASES.has(callName(call) ?? '')) return null;
  const args = callArgs(call);
  if (args.length !== 1) return null;
  const sub = unparen(args[0]);
  if (sub.type !== 'subscript_expression') return null;
  const idx = sub.childForFieldName('index');
  if (!idx || !sameExpr(idx, i!)) return null;
  return { stmt: loop, pages: sub.childForFieldName('argument')!.text, count: c.childForFieldName('right')!, index: i!.text };
}

const helperCache = new WeakMap<ParsedFile, Map<string, { params: number; pages: number; count: number } | null>>();

/** A static function of the same file whose body is one array release of its parameters. */
function releaseHelper(file: ParsedFile, name: string): { params: number; pages: number; count: number } | null {
  let cache = helperCache.get(file);
  if (!cache) helperCache.set(file, (cache = new Map()));
  if (cache.has(name)) return cache.get(name)!;
  let found: { params: number; pages: number; count: number } | null = null;
  for (const fn of functionsNamed(file, name)) {
    const decl = fn.descendantsOfType('function_declarator')[0];
    const params = decl?.childForFieldName('parameters')?.namedChildren.filter((p) => p.type === 'parameter_declaration') ?? [];
    const names = params.map((p) => declaredName(p.childForFieldName('declarator') ?? p));
    const body = fn.childForFieldName('body');
    const stmts = body ? body.namedChildren : [];
    if (stmts.length !== 1) break;
    const call = statementCall(stmts[0]);
    const known = call ? ARRAY_RELEASES.get(callName(call) ?? '') : undefined;
    if (!call || !known) break;
    const args = callArgs(call);
    const pages = names.indexOf(args[known.pages]?.text ?? '');
    const count = names.indexOf(args[known.count]?.text ?? '');
    if (pages >= 0 && count >= 0) found = { params: names.length, pages, count };
    break;
  }
  cache.set(name, found);
  return found;
}

/** Labels of a function: name -> labeled_statement. */
export function labelsOf(fn: Node): Map<string, Node> {
  const m = new Map<string, Node>();
  for (const n of fn.descendantsOfType('labeled_statement')) {
    const l = n.childForFieldName('label');
    if (l) m.set(l.text, n);
  }
  return m;
}

/** goto statements of a function aiming at `label`. */
export function gotosTo(fn: Node, label: string): Node[] {
  return fn.descendantsOfType('goto_statement').filter((n) => n.childForFieldName('label')?.text === label);
}

/** The statement under a (possibly nested) labeled_statement, and the labels on it. */
export function unlabel(stmt: Node): { stmt: Node; labels: Node[] } {
  const labels: Node[] = [];
  let s = stmt;
  while (s.type === 'labeled_statement') {
    labels.push(s);
    const inner = s.namedChildren.filter((c) => c.type !== 'statement_identifier' && c.type !== 'comment');
    if (inner.length !== 1) break;
    s = inner[0];
  }
  return { stmt: s, labels };
}

/** Is `u` inside a release of pages (or a release-like call)? */
function insideRelease(u: Node, fn: Node, file: ParsedFile): boolean {
  for (let n: Node | null = u.parent; n && n !== fn; n = n.parent) {
    if (n.type === 'call_expression' && RELEASE_LIKE.test(callName(n) ?? '') && !ARRAY_FREES.test(callName(n) ?? '')) return true;
    if (/_statement$/.test(n.type) && releaseOf(n, file)) return true;
  }
  return false;
}

/** The statement of the label's block (or the label's own) that holds `n`. */
function siblingHolding(labeled: Node, n: Node): Node | null {
  for (let s: Node | null = labeled; s; s = s.nextNamedSibling) {
    if (n.startIndex >= s.startIndex && n.endIndex <= s.endIndex) return unlabel(s).stmt;
  }
  return null;
}

/** Could control fall through into the statement after `prev`? */
export function fallsThrough(prev: Node | null): boolean {
  if (!prev) return true;
  const s = unlabel(prev).stmt;
  return !(s.type === 'return_statement' || s.type === 'goto_statement' || s.type === 'break_statement' || s.type === 'continue_statement');
}

/** Delete a label (`name:` on a line of its own), keeping the statement it labels. */
export function deleteLabel(text: string, labeled: Node): Edit {
  const label = labeled.childForFieldName('label')!;
  const colonEnd = text.indexOf(':', label.endIndex) + 1;
  if (startsLine(text, labeled.startIndex) && /^[ \t]*\r?\n/.test(text.slice(colonEnd))) {
    // Only the label's line goes.
    return { start: lineStart(text, labeled.startIndex), end: lineEnd(text, colonEnd), text: '' };
  }
  let end = colonEnd;
  while (text[end] === ' ' || text[end] === '\t') end++;
  return { start: labeled.startIndex, end, text: '' };
}

export interface LabelRepairInput {
  file: ParsedFile;
  fn: Node;
  /** The goto the pin failure takes. */
  goto: Node;
  /** The accumulated (or result-as-count) variable, when releases at the label use it. */
  count: string;
  /** The requested count: the release count after success. */
  requested: string;
  /** Text of the pages array. */
  pages: string;
  /** Statements at or before this offset run before the pages were pinned. */
  pinnedFrom: number;
  /**
   * Only reads of the count inside releases matter further down the chain
   * (the count is the call's result, which the chain may return as the errno).
   */
  releasesOnly?: boolean;
}

export interface LabelRepair {
  edits: Edit[];
  /** What the goto becomes, or null when it stays. */
  gotoText: string | null;
  /** Offset from which the pin failure path continues (for later checks). */
  failureFrom: number | null;
  /** The label released the partial pages (before the repair). */
  released: boolean;
  note: string;
}

/**
 * Repair the goto of a pin failure whose label releases `count` pages. The
 * failure jumps to the next label after the release, or returns directly when
 * only a return follows; the release keeps serving the other paths with the
 * requested count, or goes with its label when only the failure reached it.
 */
export function repairLabel(inp: LabelRepairInput): LabelRepair | { refuse: string } {
  const { file, fn, goto, count } = inp;
  const text = file.text;
  const labelName = goto.childForFieldName('label')!.text;
  const labeled = labelsOf(fn).get(labelName);
  if (!labeled) return { refuse: `label ${labelName} not found` };
  const { stmt: first } = unlabel(labeled);
  const mentions = (n: Node) => identUses(n, count).length > 0;
  const rel = releaseOf(first, file);
  if (!rel || !mentions(first)) {
    // The release was inline (or there is none): the label needs no repair,
    // unless the count is read further down the chain.
    const chainUses = identUses(fn, count).filter(
      (u) => u.startIndex >= labeled.startIndex && (!inp.releasesOnly || insideRelease(u, fn, file)),
    );
    if (chainUses.length) {
      const holder = siblingHolding(labeled, chainUses[0]);
      return {
        refuse:
          holder && holder.type === 'if_statement'
            ? `label ${labelName} releases the ${count} pages inside \`${oneLine(holder.text.split('\n')[0])}\` together with other cleanup: no existing label after the release fits, and the tool invents none`
            : `label ${labelName} reads ${count} after the pin failure jumps there`,
      };
    }
    return { edits: [], gotoText: null, failureFrom: labeled.startIndex, released: false, note: '' };
  }
  if (!sameExpr(rel.pages, inp.pages)) return { refuse: `label ${labelName} releases ${rel.pages}, not ${inp.pages}` };
  if (!sameExpr(rel.count, count)) return { refuse: `label ${labelName} releases ${oneLine(rel.count.text)} pages, not ${count}` };
  // The sequence after the release, in the same block.
  const outer = labeled.parent!;
  const siblings = outer.namedChildren.filter((c) => c.type !== 'comment');
  const at = siblings.findIndex((c) => c.startIndex === labeled.startIndex);
  const after = siblings[at + 1] ?? null;
  let target: { gotoText: string; failureFrom: number | null } | null = null;
  if (after && after.type === 'labeled_statement') {
    target = { gotoText: `goto ${after.childForFieldName('label')!.text};`, failureFrom: after.startIndex };
  } else if (after && after.type === 'return_statement') {
    target = { gotoText: oneLine(after.text), failureFrom: null };
  }
  // Who else reaches the release?
  const others = gotosTo(fn, labelName).filter((g) => g.startIndex !== goto.startIndex);
  const prev = siblings[at - 1] ?? null;
  const fall = fallsThrough(prev) && prev !== null;
  const edits: Edit[] = [];
  if (others.length === 0 && !fall) {
    // Only the pin failure reached it: the release goes. When a label follows,
    // the failure jumps there and this label goes too; otherwise the label
    // stays for what follows the release.
    if (after && after.type === 'labeled_statement') {
      edits.push(deleteLines(text, lineStart(text, labeled.startIndex), first.endIndex));
      return { edits, gotoText: target!.gotoText, failureFrom: target!.failureFrom, released: true, note: `label ${labelName} and its release went with the partial pin` };
    }
    if (after && after.type === 'return_statement') {
      // Nothing else to undo: the failure returns directly, and the label,
      // its release and that return, reached by nothing else, go.
      edits.push(deleteLines(text, lineStart(text, labeled.startIndex), after.endIndex));
      return { edits, gotoText: target!.gotoText, failureFrom: null, released: true, note: `the failure returns directly; label ${labelName} went with the partial pin` };
    }
    edits.push(deleteNodeLines(text, first));
    return { edits, gotoText: null, failureFrom: labeled.startIndex, released: true, note: `the release under ${labelName} went with the partial pin` };
  }
  if (!target) {
    return { refuse: `label ${labelName}: cleanup after the release remains to be done on the pin failure and no label follows the release` };
  }
  const early = others.find((g) => g.startIndex < inp.pinnedFrom) ?? (fall && prev!.startIndex < inp.pinnedFrom ? prev : undefined);
  if (early) return { refuse: `label ${labelName} is also reached before the pages are pinned` };
  // Shared: the release now covers the requested count.
  for (const u of identUses(rel.count, count)) {
    edits.push({ start: u.startIndex, end: u.endIndex, text: inp.requested });
  }
  if (others.length === 0) edits.push(deleteLabel(text, labeled));
  return {
    edits,
    gotoText: target.gotoText,
    failureFrom: target.failureFrom,
    released: true,
    note: `release at ${labelName} now covers ${inp.requested} pages`,
  };
}

/** Was `name` written anywhere in `scope` other than by the nodes listed? */
export function writtenOutside(scope: Node, name: string, allowed: (n: Node) => boolean): Node[] {
  return writesTo(scope, name).filter((w) => !allowed(w));
}

export { contains };
export { lineEnd };

const RELEASE_LIKE = /unpin|release|put_page|put_user_page|free/;
/** Freeing the array of page pointers releases no page. */
export const ARRAY_FREES = /^(kfree|kvfree|vfree|kvfree_sensitive|kfree_sensitive|free_page|free_pages)$/;

/**
 * Labels that only removed code jumped to: each goes with what it guards up
 * to the next label (a release, or releases and the return behind them), as
 * long as that is all release-like cleanup and nothing falls into it.
 */
export function dropOrphanLabels(text: string, fn: Node, inRemoved: (goto: Node) => boolean, done: Edit[] = []): { edits: Edit[] } | { refuse: string } {
  const edits: Edit[] = [];
  for (const [name, labeled] of labelsOf(fn)) {
    const label = labeled.childForFieldName('label')!;
    if (done.some((e) => label.startIndex >= e.start && label.endIndex <= e.end)) continue;
    const gotos = gotosTo(fn, name);
    if (gotos.length === 0 || !gotos.every(inRemoved)) continue;
    const prev = labeled.previousNamedSibling;
    if (fallsThrough(prev) && prev !== null) return { refuse: `label ${name} was reached only by the short pin, but code also falls into it` };
    // The statements from the label to the next label (or the return).
    const chain: Node[] = [];
    let end: Node | null = null;
    for (let x: Node | null = labeled; x; x = x.nextNamedSibling) {
      if (x !== labeled && x.type === 'labeled_statement') break;
      chain.push(x);
      end = x;
      if (unlabel(x).stmt.type === 'return_statement') break;
    }
    const ok = chain.every((x) => {
      const st = unlabel(x).stmt;
      if (st.type === 'return_statement') return true;
      const call = statementCall(st);
      if (call && RELEASE_LIKE.test(callName(call) ?? '')) return true;
      return !!releaseOfNoFile(st);
    });
    if (!ok || !end) return { refuse: `label ${name} was reached only by the short pin and guards more than a release` };
    edits.push(deleteLines(text, lineStart(text, labeled.startIndex), end.endIndex));
  }
  return { edits };
}

/** releaseOf without helper lookup (helpers need the file). */
function releaseOfNoFile(st: Node): boolean {
  if (st.type === 'if_statement' && !st.childForFieldName('alternative')) {
    const inner = blockStatements(st.childForFieldName('consequence')!);
    return inner.length === 1 && releaseOfNoFile(inner[0]);
  }
  const call = statementCall(st);
  if (call && (ARRAY_RELEASES.has(callName(call) ?? '') || PAGE_RELEASES.has(callName(call) ?? ''))) return true;
  return st.type === 'for_statement' && st.descendantsOfType('call_expression').some((c) => PAGE_RELEASES.has(callName(c) ?? ''));
}

/**
 * Edits removing `names` from their declarations: a declaration left empty goes
 * with its line; a parameter or global is left alone, and so is a declarator
 * whose initialiser might have effects.
 */
export function declarationEdits(text: string, fn: Node, names: string[]): { edits: Edit[]; removed: string[] } {
  const edits: Edit[] = [];
  const removed: string[] = [];
  for (const decl of fn.descendantsOfType('declaration')) {
    const ds = declarators(decl);
    const drop = ds.map((d) => {
      const name = declaredName(d);
      if (!name || !names.includes(name)) return false;
      const v = d.type === 'init_declarator' ? d.childForFieldName('value') : null;
      return !v || v.descendantsOfType(['call_expression', 'assignment_expression', 'update_expression']).length === 0 && v.type !== 'call_expression';
    });
    if (!drop.some(Boolean)) continue;
    ds.forEach((d, i) => drop[i] && removed.push(declaredName(d)!));
    if (drop.every(Boolean)) {
      edits.push(deleteNodeLines(text, decl));
      continue;
    }
    // Remove runs of dropped declarators with their commas.
    ds.forEach((d, i) => {
      if (!drop[i]) return;
      const keptBefore = drop.slice(0, i).some((x) => !x);
      const nextKept = drop.findIndex((x, j) => j > i && !x);
      if (!keptBefore && nextKept > i) {
        // Leading run: delete up to the next kept declarator.
        const end = drop.slice(i + 1, nextKept).every(Boolean) ? ds[nextKept].startIndex : ds[i + 1].startIndex;
        edits.push({ start: d.startIndex, end, text: '' });
      } else {
        // After a kept one: delete from the end of the previous declarator.
        edits.push({ start: ds[i - 1].endIndex, end: d.endIndex, text: '' });
      }
    });
  }
  return { edits: dedupe(edits), removed };
}

/** Merge overlapping deletions. */
export function dedupe(edits: Edit[]): Edit[] {
  const sorted = [...edits].sort((a, b) => a.start - b.start);
  const out: Edit[] = [];
  for (const e of sorted) {
    const last = out[out.length - 1];
    if (last && e.start < last.end && last.text === '' && e.text === '') last.end = Math.max(last.end, e.end);
    else out.push({ ...e });
  }
  return out;
}

/** After `edits`, does nothing but its declaration mention `name`? */
export function unusedAfter(fn: Node, name: string, edits: Edit[]): boolean {
  const re = new RegExp(`\\b${name}\\b`);
  if (edits.some((e) => re.test(e.text))) return false;
  return identUses(fn, name).every((u) => isDeclOf(u, name) || edits.some((e) => u.startIndex >= e.start && u.endIndex <= e.end));
}

/** Is identifier `u` the name in a declaration of `name` (not a read in an initialiser)? */
export function isDeclOf(u: Node, name: string): boolean {
  if (u.text !== name) return false;
  let n: Node = u;
  for (let p = u.parent; p; n = p, p = p.parent) {
    if (p.type === 'declaration') return true;
    if (p.type === 'init_declarator') {
      const d = p.childForFieldName('declarator');
      if (!d || d.startIndex !== n.startIndex) return false;
      continue;
    }
    if (!/^(pointer_declarator|array_declarator|parenthesized_declarator)$/.test(p.type)) return false;
  }
  return false;
}

