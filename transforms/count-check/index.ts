/**
 * count-check: one GUP call whose result is compared with the requested
 * count, a short pin treated as failure, becomes one FOLL_COMPLETE call whose
 * failure test is `if (ret)`; the partial release and the code only a short
 * pin could run go away. A short path that leaks its partial pages is
 * reported as a bug.
 */
import type { Node, ParsedFile } from '../../src/parse/index.js';
import { insideError, walk as walkTree } from '../../src/parse/index.js';
import {
  blockStatements,
  callArgs,
  callName,
  declaredName,
  hasCommentOrPreproc,
  identUses,
  isIdent,
  norm,
  oneLine,
  sameExpr,
  statementCall,
  unparen,
  writeTarget,
  writesTo,
} from '../../src/c/syntax.js';
import { MAX_COLUMNS, formatCall, width } from '../../src/c/print.js';
import { dedent, deleteLines, deleteNodeLines, indentAt, lineEnd, lineStart, sliceWithEdits } from '../../src/c/text.js';
import type { Bug, Category, Edit, Match, Rewrite } from '../../src/types.js';
import { defineTransform } from '../../src/types.js';
import { ARRAY_RELEASES, PAGE_RELEASES } from '../gup-api.js';
import { GupCall, completeFlags, declarationEdits, dropOrphanLabels, findGupCalls, gluedToLineBefore, labelsOf, releaseOf, repairLabel, siteFor, unlabel, unusedAfter } from '../common.js';

const ID = 'count-check';

/** Freeing the array of page pointers releases no page. */
const ARRAY_FREES = /^(kfree|kvfree|vfree|kvfree_sensitive|kfree_sensitive|free_page|free_pages)$/;

interface Verdict {
  category: Category;
  action: 'rewrite' | 'review' | 'leave';
  reason: string;
  bugs: Bug[];
  plan?: Rewrite;
}

class Refuse extends Error {
  constructor(
    readonly action: 'review' | 'leave',
    reason: string,
    readonly category: Category = 'count-check',
  ) {
    super(reason);
  }
}
const review = (reason: string): never => {
  throw new Refuse('review', reason);
};

/** The comparison of the result with the requested count. */
interface CountTest {
  ifs: Node;
  /** The condition node replaced by `R` or `!R`. */
  cond: Node;
  /** `!=`-like (true on failure) or `==` (true on success). */
  failureWhenTrue: boolean;
}

/** Statement after `n` in its block, skipping comments. */
function nextStmt(n: Node): Node | null {
  let s = n.nextNamedSibling;
  while (s && s.type === 'comment') s = s.nextNamedSibling;
  return s;
}

/** `R != N`, `N != R`, `R < N`, `N > R` (failure) or `R == N`, `N == R` (success). */
function countComparison(c: Node, result: string, isCount: (n: Node) => boolean): { failureWhenTrue: boolean } | null {
  c = unparen(c);
  if (c.type === 'call_expression' && /^(unlikely|likely)$/.test(callName(c) ?? '')) {
    const a = callArgs(c);
    if (a.length !== 1) return null;
    c = unparen(a[0]);
  }
  if (c.type !== 'binary_expression') return null;
  const op = c.childForFieldName('operator')?.text;
  const l = stripCasts(c.childForFieldName('left')!);
  const r = stripCasts(c.childForFieldName('right')!);
  const lr = isIdent(l, result) || sameExpr(l, result);
  const rr = isIdent(r, result) || sameExpr(r, result);
  if (lr && isCount(r)) {
    if (op === '!=' || op === '<') return { failureWhenTrue: true };
    if (op === '==') return { failureWhenTrue: false };
  }
  if (rr && isCount(l)) {
    if (op === '!=' || op === '>') return { failureWhenTrue: true };
    if (op === '==') return { failureWhenTrue: false };
  }
  return null;
}

function stripCasts(n: Node): Node {
  let e = unparen(n);
  while (e.type === 'cast_expression') e = unparen(e.childForFieldName('value')!);
  return e;
}

/** `R >= 0 && R < N` (or `R > 0 && R != N`): true for a short pin only. */
function shortOnlyTest(c: Node, result: string, isCount: (n: Node) => boolean): boolean {
  c = unparen(c);
  if (c.type !== 'binary_expression' || c.childForFieldName('operator')?.text !== '&&') return false;
  const a = unparen(c.childForFieldName('left')!);
  const b = unparen(c.childForFieldName('right')!);
  const nonneg = (x: Node) => truthWhenNegative(x, result) === false && identUses(x, result).length > 0 && x.type === 'binary_expression';
  return (nonneg(a) && !!countComparison(b, result, isCount)?.failureWhenTrue) || (nonneg(b) && !!countComparison(a, result, isCount)?.failureWhenTrue);
}

/** `R < 0` (or `R <= 0`), the first half of a two-step check. */
function errnoTest(c: Node, result: string): boolean {
  c = unparen(c);
  if (c.type === 'call_expression' && /^(unlikely|likely)$/.test(callName(c) ?? '')) {
    const a = callArgs(c);
    if (a.length !== 1) return false;
    c = unparen(a[0]);
  }
  if (c.type !== 'binary_expression') return false;
  const op = c.childForFieldName('operator')?.text;
  return isIdent(unparen(c.childForFieldName('left')!), result) && c.childForFieldName('right')!.text === '0' && (op === '<' || op === '<=');
}

/**
 * Truth of a condition given that the result is negative (an errno), or
 * null when it does not follow from that alone.
 */
function truthWhenNegative(c: Node, result: string): boolean | null {
  c = unparen(c);
  if (isIdent(c, result)) return true;
  if (c.type === 'unary_expression' && c.child(0)?.text === '!' && isIdent(unparen(c.childForFieldName('argument')!), result)) return false;
  if (c.type === 'binary_expression') {
    const op = c.childForFieldName('operator')!.text;
    const l = unparen(c.childForFieldName('left')!);
    const r = unparen(c.childForFieldName('right')!);
    if (op === '&&' || op === '||') {
      const a = truthWhenNegative(l, result);
      const b = truthWhenNegative(r, result);
      if (op === '&&') return a === false || b === false ? false : a === true && b === true ? true : null;
      return a === true || b === true ? true : a === false && b === false ? false : null;
    }
    if (isIdent(l, result) && r.text === '0') {
      return ({ '<': true, '<=': true, '>': false, '>=': false, '==': false, '!=': true } as Record<string, boolean>)[op] ?? null;
    }
    if (isIdent(r, result) && l.text === '0') {
      return ({ '>': true, '>=': true, '<': false, '<=': false, '==': false, '!=': true } as Record<string, boolean>)[op] ?? null;
    }
  }
  return null;
}

interface FailurePlan {
  edits: Edit[];
  notes: string[];
  /** An errno only a short pin produced, now replaced by GUP's errno. */
  errnoChange: string | null;
  /** The short path released the partial pages (inline or at its label). */
  released: boolean;
  /** Offsets after which code still runs on the failure path (label chain). */
  failureFrom: number | null;
  /** Nodes whose text the edits replace wholesale. */
  removed: Node[];
}

/**
 * Simplify a failure branch under "the result is a negative errno": drop
 * partial releases and arms only a short pin could take, fold conditionals on
 * the result, and repair a goto whose label releases the partial pages.
 */
function simplifyFailure(file: ParsedFile, fn: Node, g: GupCall, result: string, pagesArg: Node, requested: string, branch: Node, callStmt: Node): FailurePlan {
  const text = file.text;
  const plan: FailurePlan = { edits: [], notes: [], errnoChange: null, released: false, failureFrom: null, removed: [] };
  const stmts = blockStatements(branch);
  let written = false;
  let terminated: Node | null = null;
  const visitStmts = (list: Node[]) => {
    for (const s of list) {
      if (terminated) {
        // Dead after the errno arm that leaves: only a short pin ran it.
        noteDropped(s);
        if (releasesIn(s, file, result)) plan.released = true;
        plan.edits.push(deleteNodeLines(text, s));
        plan.removed.push(s);
        continue;
      }
      if (written) return;
      visit(s);
    }
  };
  const visit = (s: Node) => {
    const rel = releaseOf(s, file);
    if (rel && (identUses(rel.count, result).length > 0 || identUses(rel.stmt, result).length > 0)) {
      if (!sameExpr(rel.pages, pagesArg)) review(`the failure branch releases ${rel.pages}, not ${oneLine(pagesArg.text)}`);
      plan.edits.push(deleteNodeLines(text, s));
      plan.removed.push(s);
      plan.released = true;
      return;
    }
    if (s.type === 'if_statement') {
      const t = truthWhenNegative(s.childForFieldName('condition')!, result);
      if (t !== null) {
        const taken = t ? s.childForFieldName('consequence')! : s.childForFieldName('alternative');
        const dropped = t ? s.childForFieldName('alternative') : s.childForFieldName('consequence')!;
        if (dropped) {
          noteDropped(dropped);
          if (releasesIn(dropped, file, result)) plan.released = true;
        }
        const takenStmt = taken ? (taken.type === 'else_clause' ? taken.namedChildren[0] : taken) : null;
        if (!takenStmt) {
          plan.edits.push(deleteNodeLines(text, s));
          plan.removed.push(s);
          return;
        }
        // Replace the if by the taken arm's statements, one level out.
        const inner = blockStatements(takenStmt);
        const indent = indentAt(text, s.startIndex);
        const parts = inner.map((x) => {
          const d = dedent(text.slice(x.startIndex, x.endIndex), takenStmt.type === 'compound_statement' ? 1 : 1);
          if (d === null) review('the failure branch is not indented with tabs');
          return d!;
        });
        plan.edits.push({ start: s.startIndex, end: s.endIndex, text: parts.join('\n' + indent) });
        plan.removed.push(s);
        // The original took this arm for an errno too: its code is unchanged.
        // What follows a taken arm that leaves is dead now.
        const lastTaken = inner.length ? unlabel(inner[inner.length - 1]).stmt : null;
        if (lastTaken && /^(return_statement|goto_statement)$/.test(lastTaken.type)) {
          for (const g2 of takenStmt.descendantsOfType('goto_statement')) gotoRepair(g2, false);
          terminated = s;
        }
        return;
      }
    }
    // `R = R ?: -EFAULT;` and the like map a 0 return to an errno: they go.
    {
      const e0 = s.type === 'expression_statement' ? s.namedChild(0) : null;
      const w0 = e0 ? writeTarget(e0) : null;
      if (w0 && w0.op === '=' && isIdent(unparen(w0.target), result)) {
        const v = unparen(w0.value!);
        if (v.type === 'conditional_expression' && truthWhenNegative(v.childForFieldName('condition')!, result) === true) {
          const cons = v.childForFieldName('consequence');
          if (!cons || isIdent(unparen(cons), result)) {
            const m = /^-E[A-Z0-9]+$/.exec(norm(v.childForFieldName('alternative')!.text));
            if (m) plan.errnoChange = m[0];
            plan.edits.push(deleteNodeLines(text, s));
            plan.removed.push(s);
            return;
          }
        }
      }
    }
    // Expressions: fold conditionals on the result; note writes.
    walkTree(s, (n) => {
      if (n.type === 'conditional_expression') {
        const t = truthWhenNegative(n.childForFieldName('condition')!, result);
        if (t !== null) {
          const cons = n.childForFieldName('consequence') ?? n.childForFieldName('condition')!;
          const keep = t ? cons : n.childForFieldName('alternative')!;
          const drop = t ? n.childForFieldName('alternative')! : cons;
          const m = /^-E[A-Z0-9]+$/.exec(norm(drop.text));
          if (m) plan.errnoChange = m[0];
          else noteDropped(drop);
          const parenNeeded = n.parent && !/^(argument_list|init_declarator|return_statement|expression_statement|parenthesized_expression)$/.test(n.parent.type) && !(n.parent.type === 'assignment_expression' && n.parent.childForFieldName('right')?.startIndex === n.startIndex);
          const kt = oneLine(unparen(keep).text);
          plan.edits.push({ start: n.startIndex, end: n.endIndex, text: parenNeeded && !/^[\w>.-]+$/.test(kt) ? `(${kt})` : kt });
          plan.removed.push(n);
          return false;
        }
      }
      return true;
    });
    const e = s.type === 'expression_statement' ? s.namedChild(0) : null;
    const w = e ? writeTarget(e) : null;
    if (w && isIdent(unparen(w.target), result)) written = true;
    if (s.type === 'goto_statement') gotoRepair(s);
  };
  const noteDropped = (n: Node) => {
    const m = /-E[A-Z0-9]+/.exec(n.text);
    if (m && /\breturn\b|=/.test(n.text)) plan.errnoChange = m[0];
  };
  const gotoRepair = (gt: Node, edit = true) => {
    const r = repairLabel({ file, fn, goto: gt, count: result, requested, pages: oneLine(pagesArg.text), pinnedFrom: callStmt.startIndex, releasesOnly: true });
    if ('refuse' in r) review(r.refuse);
    const rr = r as Exclude<typeof r, { refuse: string }>;
    if (rr.gotoText !== null) {
      if (!edit) review(`the errno path's goto ${gt.childForFieldName('label')!.text} would need a new target`);
      plan.edits.push({ start: gt.startIndex, end: gt.endIndex, text: rr.gotoText });
      plan.removed.push(gt);
    }
    plan.edits.push(...rr.edits);
    if (rr.note) plan.notes.push(rr.note);
    plan.released = plan.released || rr.released;
    plan.failureFrom = rr.failureFrom;
  };
  visitStmts(stmts);
  return plan;
}

/** Does `n` hold a release of pages whose count reads the result? */
function releasesIn(n: Node, file: ParsedFile, result: string): boolean {
  let found = false;
  walkTree(n, (x) => {
    if (found) return false;
    if (/_statement$/.test(x.type)) {
      const rel = releaseOf(x, file);
      if (rel && identUses(rel.count, result).length) found = true;
    }
    return !found;
  });
  return found;
}

/** Does the function's short path hand the partial pages to a later release? */
function releasedLater(file: ParsedFile, fn: Node, g: GupCall, pagesArg: Node, shortPath: Node, result: string): string | null {
  // A goto on the short path whose label chain releases the pages array.
  for (const gt of shortPathGotos(shortPath, result)) {
    const l = labelsOf(fn).get(gt.childForFieldName('label')!.text);
    if (!l) continue;
    for (let s: Node | null = l; s; s = nextStmt(s)) {
      if (mentionsRelease(s, file, pagesArg)) return `label ${gt.childForFieldName('label')!.text} releases them`;
    }
  }
  // A helper called with the pages or the count.
  for (const c of shortPath.descendantsOfType('call_expression')) {
    const name = callName(c);
    if (!name || ARRAY_RELEASES.has(name) || ARRAY_FREES.test(name)) continue;
    const args = callArgs(c);
    if (args.some((a) => sameExpr(a, pagesArg) || identUses(a, result).length > 0 && !/^(pr_|dev_|printk|dprintk)/.test(name) && !/DEBUG|WARN|ERR|INFO|dbg|err|warn|info/.test(name))) {
      return `${name}() is handed the pages`;
    }
  }
  // A struct field holding the pages that a function of the same file releases.
  const pages = unparen(pagesArg);
  if (pages.type === 'field_expression') {
    const field = pages.childForFieldName('field')!.text;
    // Both tests below look for this in a node's text: a function without it is not walked.
    const mentioned = new RegExp(`(->|\\.)${field}\\b`);
    for (const other of file.root.namedChildren) {
      if (other.type !== 'function_definition' || !mentioned.test(other.text)) continue;
      let hit: string | null = null;
      walkTree(other, (x) => {
        if (hit) return false;
        if (/_statement$/.test(x.type)) {
          const rel = releaseOf(x, file);
          if (rel && new RegExp(`(->|\\.)${field}\\b`).test(rel.pages)) hit = rel.pages;
        }
        const call = x.type === 'call_expression' ? x : null;
        if (call && PAGE_RELEASES.has(callName(call) ?? '') && new RegExp(`(->|\\.)${field}\\s*\\[`).test(call.text)) hit = call.text;
        return !hit;
      });
      if (hit) return `${other.childForFieldName('declarator')?.text.split('(')[0].replace(/^\*+/, '')}() releases ${pages.text.replace(/^.*(->|\.)/, '$1').replace(/^(->|\.)/, '')} later`;
    }
  }
  return null;
}

/** Gotos a short pin (result >= 0) can take: not those under `if (R < 0)`. */
function shortPathGotos(n: Node, result: string): Node[] {
  const out: Node[] = [];
  walkTree(n, (x) => {
    if (x.type === 'goto_statement') out.push(x);
    if (x.type === 'if_statement') {
      const c = unparen(x.childForFieldName('condition')!);
      const errnoOnly = errnoTest(c, result) && c.childForFieldName('operator')?.text === '<';
      const nonNeg = c.type === 'binary_expression' && c.childForFieldName('operator')?.text === '>=' && isIdent(unparen(c.childForFieldName('left')!), result) && c.childForFieldName('right')!.text === '0';
      const cons = x.childForFieldName('consequence');
      const alt = x.childForFieldName('alternative');
      if (errnoOnly) {
        if (alt) out.push(...shortPathGotos(alt, result));
        return false;
      }
      if (nonNeg) {
        if (cons) out.push(...shortPathGotos(cons, result));
        return false;
      }
    }
    return true;
  });
  return out;
}

/** The object holding a pages array written `obj->pages` or `&obj->pages[0]`. */
function pagesOwner(pagesArg: Node): string | null {
  let e = unparen(pagesArg);
  if (e.type === 'pointer_expression') e = unparen(e.childForFieldName('argument')!);
  if (e.type === 'subscript_expression') e = unparen(e.childForFieldName('argument')!);
  if (e.type !== 'field_expression') return null;
  return oneLine(e.childForFieldName('argument')!.text);
}

function mentionsRelease(s: Node, file: ParsedFile, pagesArg: Node): boolean {
  let found = false;
  const owner = pagesOwner(pagesArg);
  walkTree(s, (x) => {
    if (found) return false;
    if (/_statement$/.test(x.type)) {
      const rel = releaseOf(x, file);
      if (rel && sameExpr(rel.pages, pagesArg)) found = true;
    }
    if (x.type === 'call_expression' && callArgs(x).some((a) => sameExpr(a, pagesArg) || (owner !== null && sameExpr(a, owner)) || (unparen(a).type === 'subscript_expression' && sameExpr(unparen(a).childForFieldName('argument')!, pagesArg)))) {
      const name = callName(x) ?? '';
      if (PAGE_RELEASES.has(name) || ARRAY_RELEASES.has(name) || (/release|unpin|put|free/.test(name) && !ARRAY_FREES.test(name))) found = true;
    }
    return !found;
  });
  return found;
}

function analyze(file: ParsedFile, g: GupCall): Verdict | null {
  const fn = g.fn;
  if (!fn || !g.sig) return null;
  const text = file.text;
  // The statement holding the call: `R = gup(...);` or `T R = gup(...);`.
  const p = g.call.parent;
  let result: string | null = null;
  let stmt: Node | null = null;
  let resultIsField = false;
  if (p && p.type === 'assignment_expression' && p.childForFieldName('right')?.startIndex === g.call.startIndex && p.parent?.type === 'expression_statement') {
    const left = unparen(p.childForFieldName('left')!);
    result = oneLine(left.text);
    resultIsField = left.type !== 'identifier';
    stmt = p.parent;
  } else if (p && p.type === 'init_declarator' && p.parent?.type === 'declaration') {
    result = declaredName(p);
    stmt = p.parent;
  }
  if (!result || !stmt) return null;
  const countArg = g.args[g.sig.count];
  const pagesArg = g.args[g.sig.pages];
  // One page: no partial result is possible.
  if (/^1[uUlL]*$/.test(unparen(countArg).text)) return null;
  const requested = oneLine(unparen(countArg).text);
  const isCount = (n: Node) => sameExpr(n, countArg) || holdsCount(fn, n, countArg, stmt!);

  // Find the tests: an optional `R < 0` first, then the count comparison.
  // Statements that do not touch the result (an unlock, say) may stand between.
  let first: Node | null = null;
  let test: CountTest | null = null;
  let usedBefore: Node | null = null;
  let shortOnly = false;
  let s = nextStmt(stmt);
  for (let i = 0; s && i < 4; i++, s = nextStmt(s)) {
    if (s.type !== 'if_statement') {
      if (identUses(s, result).length) {
        usedBefore = usedBefore ?? s;
      }
      continue;
    }
    const cond = s.childForFieldName('condition')!;
    const cmp = countComparison(cond, result, isCount);
    if (cmp) {
      test = { ifs: s, cond: unparen(cond), failureWhenTrue: cmp.failureWhenTrue };
      break;
    }
    if (shortOnlyTest(cond, result, isCount)) {
      test = { ifs: s, cond: unparen(cond), failureWhenTrue: true };
      shortOnly = true;
      break;
    }
    if (!first && errnoTest(cond, result)) {
      first = s;
      // `if (R < 0) ... else if (R != N) ...`
      const alt = s.childForFieldName('alternative');
      const altStmt = alt?.namedChildren[0];
      if (altStmt && altStmt.type === 'if_statement') {
        const c2 = altStmt.childForFieldName('condition')!;
        const cmp2 = countComparison(c2, result, isCount);
        if (cmp2) {
          test = { ifs: altStmt, cond: unparen(c2), failureWhenTrue: cmp2.failureWhenTrue };
          break;
        }
      }
      continue;
    }
    if (identUses(s, result).length) usedBefore = usedBefore ?? s;
  }
  if (!test) return null;

  const bugs: Bug[] = [];
  try {
    if (!g.api.rewritable) throw new Refuse('leave', `${g.api.name} must not sleep or fault: never rewritten with FOLL_COMPLETE`);
    const glued = gluedToLineBefore(text, stmt);
    if (glued) review(glued);
    if (usedBefore) review(`the result is used before the count test: \`${oneLine(usedBefore.text).slice(0, 60)}\``);
    if (shortOnly && !first) review('the errno path goes on past the short-pin test, into code that reads the result');
    if (first) {
      const f = unlabel(blockStatements(first.childForFieldName('consequence')!).slice(-1)[0] ?? first).stmt;
      if (!/^(return_statement|goto_statement)$/.test(f.type)) review('the errno test does not leave the function');
    }
    const { ifs } = test;
    const cons = ifs.childForFieldName('consequence')!;
    const alt = ifs.childForFieldName('alternative');
    const failure = test.failureWhenTrue ? cons : alt ? alt.namedChildren[0] : null;
    if (!failure) review('an `==` count test without an else branch for the failure');
    if (test.failureWhenTrue && alt && !first) review('the count test has an else branch');
    // The short path must fail: end in return or goto.
    const last = blockStatements(failure!).slice(-1)[0];
    const lastStmt = last ? unlabel(last).stmt : null;
    const setsErrno = /=\s*-E[A-Z0-9]+\s*;/.test(failure!.text);
    const setsError = setsErrno || /\b\w*(err|ret|rc|status)\w*\s*=[^=]/i.test(failure!.text);
    if (!lastStmt || (!/^(return_statement|goto_statement)$/.test(lastStmt.type) && !(setsErrno && !test.failureWhenTrue))) {
      if (setsError) review('the failure branch sets an error code and falls through into code shared with success');
      throw new Refuse('leave', 'a short pin does not fail the function (the branch neither returns nor jumps): a partial result is used', 'partial-ok');
    }

    // Leak check on the original code: does the short path release the partial pages?
    const inlineRelease = releasesIn(failure!, file, result) || blockStatements(failure!).some((x) => {
      const r = releaseOf(x, file);
      return !!r && sameExpr(r.pages, pagesArg);
    });
    const later = inlineRelease ? null : releasedLater(file, fn, g, pagesArg, failure!, result);
    const leaks = !inlineRelease && !later;
    if (leaks) bugs.push('missing-unpin');

    // From here on: can the rewrite be proven?
    if (resultIsField) review(`the result is stored in ${result}, a field read elsewhere: after FOLL_COMPLETE it would hold 0 on success`);
    const span: [number, number] = [stmt.startIndex, ifs.endIndex];
    for (const n of [stmt, first, ifs]) {
      if (!n) continue;
      const c = hasCommentOrPreproc(n);
      if (c && c.type !== 'comment') review('a preprocessor directive inside the checked code');
      if (n.hasError || insideError(n)) review('the checked code does not parse cleanly (a macro the parser does not know?)');
    }
    void span;
    const flags = completeFlags(g.args[g.sig.flags], fn);
    if ('refuse' in flags) review(flags.refuse);

    const edits: Edit[] = [];
    const notes: string[] = [];
    // The call, re-printed kernel style with FOLL_COMPLETE.
    const args = g.args.map((a) => oneLine(a.text));
    args[g.sig.flags] = (flags as { text: string }).text;
    if (g.args.some((a) => hasCommentOrPreproc(a))) review('a comment inside the call arguments');
    const argList = g.call.childForFieldName('arguments')!;
    const indent = indentAt(text, stmt.startIndex);
    if (argList.namedChildren.some((a) => a.type === 'comment') || hasCommentOrPreproc(stmt)) {
      // Comments between the arguments: change the flags argument in place.
      const f = g.args[g.sig.flags];
      const ft = (flags as { text: string }).text;
      const lineOf = text.slice(lineStart(text, f.startIndex), f.startIndex) + ft + text.slice(f.endIndex, lineEnd(text, f.endIndex)).replace(/\r?\n$/, '');
      if (width(lineOf) > MAX_COLUMNS) review(`with a comment beside the flags, the edited line would pass ${MAX_COLUMNS} columns`);
      edits.push({ start: f.startIndex, end: f.endIndex, text: ft });
    } else {
      const lead = text.slice(stmt.startIndex, g.call.startIndex).replace(/\s+/g, ' ');
      const callText = formatCall(indent + lead, g.api.name, args, text.slice(g.call.endIndex, stmt.endIndex));
      edits.push({ start: stmt.startIndex, end: stmt.endIndex, text: callText.slice(indent.length) });
    }

    // The failure branch under "result is -errno".
    // A first test `R <= 0` would now take a success (0): it becomes `R < 0`,
    // and its branch loses the mapping of 0 to an errno.
    if (first) {
      let c = unparen(first.childForFieldName('condition')!);
      if (c.type === 'call_expression') c = unparen(callArgs(c)[0]);
      const op = c.childForFieldName('operator')!;
      if (op.text === '<=') {
        edits.push({ start: op.startIndex, end: op.endIndex, text: '<' });
        const f0 = simplifyFailure(file, fn, g, result, pagesArg, requested, first.childForFieldName('consequence')!, stmt);
        if (f0.released) review('the errno branch releases pages');
        edits.push(...f0.edits);
        notes.push('the errno test no longer takes a 0 return');
      }
    }
    const fp = simplifyFailure(file, fn, g, result, pagesArg, requested, failure!, stmt);
    notes.push(...fp.notes);
    // The test becomes `if (R)` / `if (!R)`, or goes with the second step of a two-step check.
    let branchEdits = fp.edits;
    if ((first || shortOnly) && test.failureWhenTrue) {
      // Two-step: only a short pin could take the count test: it goes whole.
      const alt2 = ifs.parent?.type === 'else_clause' ? ifs.parent : null;
      if (alt2) edits.push({ start: alt2.previousSibling ? alt2.previousSibling.endIndex : alt2.startIndex, end: alt2.endIndex, text: '' });
      else {
        // With the comment lines directly above it, which spoke of it.
        let from: Node = ifs;
        for (let c = ifs.previousNamedSibling; c && c.type === 'comment' && c.endPosition.row === from.startPosition.row - 1; c = c.previousNamedSibling) from = c;
        edits.push(deleteLines(text, from.startIndex, ifs.endIndex));
      }
      branchEdits = [];
      if (fp.errnoChange === null) fp.errnoChange = errnoIn(failure!);
      notes.push('the count test after the errno test went: only a short pin could take it');
    } else {
      edits.push({ start: test.cond.startIndex, end: test.cond.endIndex, text: test.failureWhenTrue ? result : `!${result}` });
    }
    // The short path's messages must stay truthful.
    for (const c of failure!.descendantsOfType('call_expression')) {
      if (fp.removed.some((r) => c.startIndex >= r.startIndex && c.endIndex <= r.endIndex)) continue;
      const adapted = adaptMessage(c, result, countArg, fn, stmt);
      if (adapted === 'review') review(`a message prints ${result} as the count pinned: \`${oneLine(c.text).slice(0, 60)}\``);
      if (adapted) {
        const stmtOf = c.parent?.type === 'expression_statement' ? c.parent : null;
        if (!stmtOf) review('a message printing the count is not a statement of its own');
        const ind = indentAt(text, stmtOf!.startIndex);
        const printed = formatCall(ind, callName(c)!, adapted as string[], ';');
        branchEdits = [...branchEdits, { start: stmtOf!.startIndex, end: stmtOf!.endIndex, text: printed.slice(ind.length) }];
        notes.push('the message no longer prints the short count');
      }
    }
    // A block left with one statement loses its braces.
    const braced = bracesEdit(text, failure!, branchEdits, fp.removed);
    edits.push(...(braced ?? branchEdits));

    // Labels only the removed short path jumped to go with their release.
    const all = [...edits];
    const gone = (gt: Node) => {
      const label = gt.childForFieldName('label')!.text;
      // (Comments stripped: `goto /* why */ label;` in kept text still jumps there.)
      const kept = (t: string) => t.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
      return all.some((e) => gt.startIndex >= e.start && gt.endIndex <= e.end && !new RegExp(`\\bgoto\\s+${label}\\s*;`).test(kept(e.text)));
    };
    const orphans = dropOrphanLabels(text, fn, gone, all);
    if ('refuse' in orphans) review(orphans.refuse);
    edits.push(...(orphans as { edits: Edit[] }).edits);

    // In an `==` test, the success branch reads the result as the count.
    if (!test.failureWhenTrue) {
      const succ = blockStatements(cons);
      let wrote = false;
      for (const st of succ) {
        const e = st.type === 'expression_statement' ? st.namedChild(0) : null;
        const w = e ? writeTarget(e) : null;
        const isWrite = !!w && w.op === '=' && isIdent(unparen(w.target), result);
        for (const u of identUses(isWrite ? w!.value! : st, result)) {
          if (writesTo(st, result).length && !isWrite) review(`${result} is written inside the success branch`);
          edits.push({ start: u.startIndex, end: u.endIndex, text: requested });
          notes.push(`later uses of ${result} as a count read ${requested}`);
        }
        if (isWrite) {
          wrote = true;
          break;
        }
      }
      if (!wrote && identUses(fn, result).some((u) => u.startIndex > ifs.endIndex)) {
        review(`${result} is read after the test, on both paths`);
      }
    }
    // Later reads of the result as a count read the requested count.
    const after = test.failureWhenTrue ? laterReads(fn, result, ifs, first ?? ifs, fp.failureFrom) : { replace: [] as Node[] };
    if ('refuse' in after) review(after.refuse);
    for (const u of (after as { replace: Node[] }).replace) {
      edits.push({ start: u.startIndex, end: u.endIndex, text: requested });
      notes.push(`later uses of ${result} as a count read ${requested}`);
    }
    // Declarations used only by deleted code (a release loop index).
    const idx = new Set<string>();
    for (const r of fp.removed) {
      walkTree(r, (x) => {
        if (x.type === 'for_statement') {
          const rel = releaseOf(x, file);
          if (rel?.index) idx.add(rel.index);
        }
        return true;
      });
    }
    const gone2 = [...idx].filter((name) => unusedAfter(fn, name, edits));
    const decl = declarationEdits(text, fn, gone2);
    edits.push(...decl.edits);
    const reason = [
      leaks
        ? `the short path returns without releasing the partially pinned pages (leak); FOLL_COMPLETE fixes it`
        : `the short path ${later ? `left the partial pages to a later release (${later})` : 'released the partially pinned pages'}; folded into one FOLL_COMPLETE call`,
      fp.errnoChange ? `a short pin used to fail with ${fp.errnoChange}; the caller now sees GUP's -errno` : null,
      ...new Set(notes),
    ]
      .filter(Boolean)
      .join('; ');
    return { category: 'count-check', action: 'rewrite', reason, bugs, plan: { edits, removed: decl.removed } };
  } catch (e) {
    if (e instanceof Refuse) {
      const why = bugs.length ? `the short path returns without releasing the partially pinned pages (leak); ${e.message}` : e.message;
      return { category: e.category, action: e.action, reason: why, bugs };
    }
    throw e;
  }
}

function errnoIn(n: Node): string | null {
  const m = /-E[A-Z0-9]+/.exec(n.text);
  return m ? m[0] : null;
}

/** Is `n` a variable holding the count argument (or the argument a variable holding `n`)? */
function holdsCount(fn: Node, n: Node, countArg: Node, before: Node): boolean {
  const value = (name: string): Node | null => {
    const ws = writesTo(fn, name).filter((w) => w.endIndex <= before.startIndex);
    if (ws.length !== 1) return null;
    const w = ws[0];
    return w.type === 'init_declarator' ? w.childForFieldName('value') : writeTarget(w)?.value ?? null;
  };
  const a = unparen(n);
  const b = unparen(countArg);
  if (a.type === 'identifier') {
    const v = value(a.text);
    if (v && sameExpr(v, countArg)) return true;
  }
  if (b.type === 'identifier') {
    const v = value(b.text);
    if (v && sameExpr(v, n)) return true;
  }
  return false;
}

/**
 * A message call that prints the result: adapt "returned %d instead of %d"
 * to "returned %d"; 'review' when it prints the result as a pinned count in
 * another way; null when it needs no change.
 */
function adaptMessage(c: Node, result: string, countArg: Node, _fn: Node, _stmt: Node): string[] | 'review' | null {
  const args = callArgs(c);
  const fi = args.findIndex((a) => a.type === 'string_literal' || a.type === 'concatenated_string');
  if (fi < 0) return null;
  const rest = args.slice(fi + 1);
  const ri = rest.findIndex((a) => isIdent(unparen(a), result));
  if (ri < 0) return null;
  const fmt = args[fi].text;
  const specs = [...fmt.matchAll(/%[-+ #0]*\d*(?:\.\d+)?(?:hh|h|ll|l|z|j|t|L)?[diouxXcsp]/g)];
  if (specs.length !== rest.length) return 'review';
  const ni = rest.findIndex((a) => sameExpr(a, countArg));
  if (ni === ri + 1) {
    const between = fmt.slice(specs[ri].index! + specs[ri][0].length, specs[ni].index!);
    if (/^\s*(instead of|rather than|of|out of|\/)\s*$/.test(between)) {
      if (!/instead of|rather than/.test(between)) return 'review';
      const newFmt = fmt.slice(0, specs[ri].index! + specs[ri][0].length) + fmt.slice(specs[ni].index! + specs[ni][0].length);
      const out = args.map((a) => oneLine(a.text));
      out[fi] = newFmt;
      out.splice(fi + 1 + ni, 1);
      return out;
    }
  }
  if (/\b(pinned|got|mapped|locked)\b[^%]*%/i.test(fmt) || /%[a-z]+\s*(of|\/|out of)\s*%/.test(fmt)) return 'review';
  return null;
}

/** Re-emit the failure branch without braces when one statement is left. */
function bracesEdit(text: string, failure: Node, edits: Edit[], removed: Node[]): Edit[] | null {
  if (failure.type !== 'compound_statement') return null;
  const stmts = failure.namedChildren;
  const left = stmts.filter((s) => !removed.some((r) => r.startIndex === s.startIndex && r.endIndex === s.endIndex && edits.some((e) => e.start <= s.startIndex && e.end >= s.endIndex && e.text === '')));
  const deleted = (s: Node) => edits.some((e) => e.text === '' && e.start <= s.startIndex && e.end >= s.endIndex);
  const kept = stmts.filter((s) => !deleted(s));
  void left;
  if (kept.length !== 1 || kept.some((s) => s.type === 'comment')) return null;
  const parent = failure.parent!;
  if (parent.type === 'else_clause' || parent.childForFieldName('alternative')) return null; // keep if/else bracing as it is
  const indent = indentAt(text, parent.startIndex);
  const body = sliceWithEdits(text, kept[0].startIndex, kept[0].endIndex, edits);
  const d = dedent(body, 0);
  if (d === null) return null;
  // `if (...) {` ... `}` -> `if (...)\n\t\tstmt`
  const open = failure.startIndex;
  const condEnd = parent.childForFieldName('condition')!.endIndex;
  return [{ start: condEnd, end: failure.endIndex, text: `\n${indent}\t${d}` }].concat(edits.filter((e) => e.start < open || e.end > failure.endIndex));
}

/**
 * Reads of the result after the checks: on the straight success path they
 * become the requested count; elsewhere (a label a later goto reaches, a
 * return shared with the failure) they are refused.
 */
function laterReads(fn: Node, result: string, ifs: Node, firstTest: Node, failureFrom: number | null): { replace: Node[] } | { refuse: string } {
  const replace: Node[] = [];
  const labels = labelsOf(fn);
  let s: Node | null = nextStmt(ifs.parent?.type === 'else_clause' ? firstTest : ifs);
  const lateGotos: Node[] = [];
  while (s) {
    if (s.type === 'labeled_statement') break;
    const uses = identUses(s, result);
    const e = s.type === 'expression_statement' ? s.namedChild(0) : null;
    const w = e ? writeTarget(e) : null;
    if (w && w.op === '=' && isIdent(unparen(w.target), result)) {
      // The right-hand side still reads the count, before the new value.
      replace.push(...identUses(w.value!, result));
      lateGotos.push(...s.descendantsOfType('goto_statement'));
      return finish();
    }
    for (const u of uses) {
      if (writesTo(s, result).length) return { refuse: `${result} is written inside \`${oneLine(s.text).slice(0, 50)}\` after the check` };
      replace.push(u);
    }
    lateGotos.push(...s.descendantsOfType('goto_statement'));
    if (s.type === 'return_statement') return finish();
    s = nextStmt(s);
  }
  return finish();

  function finish(): { replace: Node[] } | { refuse: string } {
    // Labels reached from the success path must not read the result.
    const seen = new Set<string>();
    const queue = lateGotos.map((g) => g.childForFieldName('label')!.text);
    while (queue.length) {
      const name = queue.shift()!;
      if (seen.has(name)) continue;
      seen.add(name);
      const l = labels.get(name);
      if (!l) continue;
      for (let x: Node | null = l; x; x = nextStmt(x)) {
        const e = unlabel(x).stmt;
        const ex = e.type === 'expression_statement' ? e.namedChild(0) : null;
        const w = ex ? writeTarget(ex) : null;
        if (w && w.op === '=' && isIdent(unparen(w.target), result) && identUses(w.value!, result).length === 0) break;
        if (identUses(x, result).length) return { refuse: `label ${name}, reached after a successful pin, reads ${result}, which now holds 0 on success` };
        for (const g of x.descendantsOfType('goto_statement')) queue.push(g.childForFieldName('label')!.text);
        if (e.type === 'return_statement') break;
      }
    }
    void failureFrom;
    // Reads in a return shared by both paths would change the value returned.
    for (const u of replace) {
      let r: Node | null = u;
      while (r && r.type !== 'return_statement') r = r.parent;
      if (r && norm(r.text) === norm(`return ${result};`)) continue;
    }
    return { replace };
  }
}

export default defineTransform<Rewrite>({
  meta: {
    id: ID,
    summary: 'make GUP count checks one FOLL_COMPLETE call',
    rewrites:
      'a single GUP call whose result is compared with the requested count (ret != n, ret < n, ret == n, or ret < 0 then ret != n), a short pin treated as failure: the test becomes if (ret), the partial release and short-only code go; a short path that leaks its pages is reported (missing-unpin)',
    refuses: [
      'a result stored directly in a struct field (review)',
      'a result read again after success where it would now be 0, at a label or in a shared return (review)',
      'a message printing the pinned count in a way it cannot adapt (review)',
      'a short pin that does not fail the function (partial-ok)',
      '*_fast_only calls',
    ],
    help: 'FOLL_COMPLETE pins exactly npages or fails (0 or -errno, nothing left pinned); see "Re: [PATCH 1/2] mm: reorganize internal_get_user_pages_fast()", linux-mm, 27 Oct 2020',
    commitText: {
      subject: 'use FOLL_COMPLETE instead of checking the pinned count',
      site:
        '{function} calls {api} and treats a result other than the requested number of pages as a failure: {what}.[[ Along with the check: {notes}.]]',
      why:
        'With FOLL_COMPLETE, {apis} pins all the requested pages or none: it returns 0, or -errno with no page left pinned. A short pin can no longer happen, so the count test becomes a test for failure, and the code that released a partial pin, or that only a short pin could reach, goes.',
      fix: '{function} returned on a short pin without releasing the pages it had pinned, leaking them; with FOLL_COMPLETE a failed call leaves nothing pinned, which fixes the leak.',
      cover:
        'FOLL_COMPLETE, as Jason Gunthorpe proposed in "Re: [PATCH 1/2] mm: reorganize internal_get_user_pages_fast()" (linux-mm, 27 October 2020), makes a GUP call pin exactly the requested number of pages or fail with -errno and nothing left pinned. Callers that compare the result with the requested count and undo a short pin can test for failure instead.',
      omit: ['folded into one FOLL_COMPLETE call', 'FOLL_COMPLETE fixes it'],
    },
  },
  match(file: ParsedFile): Match<Rewrite>[] {
    const out: Match<Rewrite>[] = [];
    for (const g of findGupCalls(file)) {
      const v = analyze(file, g);
      if (!v) continue;
      const site = siteFor(file, g, { category: v.category, action: v.action, reason: v.reason, transform: ID });
      site.bugs = v.bugs;
      const m: Match<Rewrite> = { site, callStart: g.call.startIndex, fnRange: g.fn ? [g.fn.startIndex, g.fn.endIndex] : null };
      if (v.action === 'rewrite') m.plan = v.plan;
      out.push(m);
    }
    return out;
  },
  rewrite(m: Match<Rewrite>) {
    return m.plan ?? { refuse: m.site.reason };
  },
});
