/**
 * retry-loop: a loop that re-calls GUP and accumulates its result until the
 * whole range is pinned becomes one FOLL_COMPLETE call.
 */
import type { Node, ParsedFile } from '../../src/parse/index.js';
import { insideError } from '../../src/parse/index.js';
import {
  blockStatements,
  callName,
  declaredName,
  declarators,
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
import { formatCall } from '../../src/c/print.js';
import { dedent, deleteNodeLines, indentAt, sliceWithEdits } from '../../src/c/text.js';
import type { Edit, Match, Rewrite } from '../../src/types.js';
import { defineTransform } from '../../src/types.js';
import { LOCK_CALLS } from '../gup-api.js';
import { GupCall, completeFlags, declarationEdits, findGupCalls, gluedToLineBefore, gotosTo, isDeclOf, labelsOf, releaseOf, repairLabel, siteFor, unlabel, unusedAfter } from '../common.js';

const ID = 'retry-loop';

type Verdict =
  | { category: 'retry-loop' | 'chunked-loop' | 'partial-ok'; action: 'leave' | 'review'; reason: string }
  | { category: 'retry-loop'; action: 'rewrite'; reason: string; plan: Rewrite };

const LOOPS = new Set(['do_statement', 'while_statement', 'for_statement']);

/** Variables the loop walks: the accumulator, a decremented remainder, advanced pointers. */
interface Walk {
  result: string;
  acc: string | null;
  remain: string | null;
  /** Advanced by `result` pages: name -> 'addr' (by pages * PAGE_SIZE) or 'pages' (by pages). */
  advanced: Map<string, 'addr' | 'pages'>;
  /** Statements (or the for-update) that only walk the loop. */
  walkers: Node[];
  /** Value at loop entry of the remainder and advanced variables (their own name when unknown). */
  initial: Map<string, string>;
}

class Refuse extends Error {
  constructor(
    readonly action: 'review' | 'leave',
    reason: string,
    readonly category: 'retry-loop' | 'chunked-loop' | 'partial-ok' = 'retry-loop',
  ) {
    super(reason);
  }
}

const review = (reason: string): never => {
  throw new Refuse('review', reason);
};
const leave = (reason: string, category: 'retry-loop' | 'chunked-loop' | 'partial-ok' = 'retry-loop'): never => {
  throw new Refuse('leave', reason, category);
};

function loopParts(loop: Node): { body: Node; cond: Node | null; init: Node | null; update: Node | null } {
  const body = loop.childForFieldName('body')!;
  const c = loop.childForFieldName('condition');
  return {
    body,
    cond: c ? unparen(c) : null,
    init: loop.type === 'for_statement' ? loop.childForFieldName('initializer') : null,
    update: loop.type === 'for_statement' ? loop.childForFieldName('update') : null,
  };
}

/** `x * PAGE_SIZE`, `x << PAGE_SHIFT` (through casts and parentheses) of variable `v`. */
function scaledBy(e: Node, v: string): boolean {
  e = unparen(e);
  if (e.type !== 'binary_expression') return false;
  const op = e.childForFieldName('operator')?.text;
  const l = stripCast(e.childForFieldName('left')!);
  const r = stripCast(e.childForFieldName('right')!);
  if (op === '*') return (isIdent(l, v) && r.text === 'PAGE_SIZE') || (isIdent(r, v) && l.text === 'PAGE_SIZE');
  if (op === '<<') return isIdent(l, v) && r.text === 'PAGE_SHIFT';
  return false;
}

function stripCast(e: Node): Node {
  e = unparen(e);
  while (e.type === 'cast_expression') e = unparen(e.childForFieldName('value')!);
  return e;
}

/** Classify a statement (or for-update expression) that walks the loop by `result`. */
function walkerOf(e: Node, result: string): { kind: 'acc' | 'remain' | 'addr' | 'pages'; name: string } | null {
  const w = writeTarget(e);
  if (!w || !w.value) return null;
  const t = unparen(w.target);
  const name = t.text;
  if (w.op === '+=' && isIdent(unparen(w.value), result)) return { kind: 'acc', name };
  if (w.op === '-=' && isIdent(unparen(w.value), result)) return { kind: 'remain', name };
  if (w.op === '+=' && scaledBy(w.value, result)) return { kind: 'addr', name };
  if (w.op === '=') {
    // x = x + ret
    const v = unparen(w.value);
    if (v.type === 'binary_expression' && v.childForFieldName('operator')?.text === '+' && sameExpr(v.childForFieldName('left')!, t)) {
      const r = v.childForFieldName('right')!;
      if (isIdent(unparen(r), result)) return { kind: 'acc', name };
      if (scaledBy(r, result)) return { kind: 'addr', name };
    }
  }
  return null;
}

function exprOf(stmt: Node): Node | null {
  return stmt.type === 'expression_statement' ? stmt.namedChild(0) : null;
}

/** The function-level analysis of one GUP call inside a loop. */
function analyze(file: ParsedFile, g: GupCall): Verdict | null {
  const fn = g.fn;
  if (!fn) return null;
  let loop: Node | null = null;
  for (let n = g.call.parent; n && n !== fn; n = n.parent) {
    if (LOOPS.has(n.type)) {
      loop = n;
      break;
    }
  }
  if (!loop) return null;
  const { body, cond, init, update } = loopParts(loop);
  const assign = g.call.parent;
  if (!assign || assign.type !== 'assignment_expression' || assign.childForFieldName('right') !== null && assign.childForFieldName('right')!.startIndex !== g.call.startIndex) return null;
  const resultNode = unparen(assign.childForFieldName('left')!);
  if (!isIdent(resultNode)) return null;
  const result = resultNode.text;

  // Which statements walk the loop?
  const stmts = blockStatements(body);
  const walk: Walk = { result, acc: null, remain: null, advanced: new Map(), walkers: [], initial: new Map() };
  const updateExprs = update ? (unparen(update).type === 'comma_expression' ? commaParts(unparen(update)) : [unparen(update)]) : [];
  const candidates: Array<{ node: Node; expr: Node }> = [
    ...stmts.map((s) => ({ node: s, expr: exprOf(s) })).filter((x): x is { node: Node; expr: Node } => !!x.expr),
    ...updateExprs.map((e) => ({ node: e, expr: e })),
  ];
  const pagesName = g.sig ? unparen(g.args[g.sig.pages]).text : null;
  const accs: string[] = [];
  const remains: string[] = [];
  for (const { node, expr } of candidates) {
    const w = walkerOf(expr, result);
    if (!w) continue;
    walk.walkers.push(node);
    if (w.kind === 'acc' && w.name === pagesName) walk.advanced.set(w.name, 'pages');
    else if (w.kind === 'acc') accs.push(w.name);
    else if (w.kind === 'remain') remains.push(w.name);
    else walk.advanced.set(w.name, 'addr');
  }
  if (!accs.length && !remains.length) return null;
  walk.acc = accs[0] ?? null;
  walk.remain = remains[0] ?? null;

  const sig = g.sig;
  try {
    if (!g.api.rewritable) leave(`${g.api.name} must not sleep or fault: never rewritten with FOLL_COMPLETE`);
    if (!sig) review(`${g.api.name} called with ${g.args.length} arguments: no known signature`);
    const nonLocal = [...accs, ...remains, ...walk.advanced.keys()].find((n) => !/^[A-Za-z_]\w*$/.test(n));
    if (nonLocal) leave(`the loop counts into ${nonLocal}, not a local variable (a struct field or out-parameter read elsewhere)`);
    if (accs.length > 1 || remains.length > 1) {
      leave(`the loop keeps more than one count (${[...accs, ...remains].join(', ')}): other per-iteration accounting`);
    }
    const pagesArg = g.args[sig!.pages];
    const startArg = g.args[sig!.start];
    const countArg = g.args[sig!.count];
    const flagsArg = g.args[sig!.flags];
    // Loop condition: pinned < n, or remaining (> 0); else not a retry loop.
    let requested: string;
    if (walk.acc) {
      const n = accCondition(cond, walk.acc);
      if (!n) return null;
      requested = n;
    } else {
      if (!cond || !remainCondition(cond, walk.remain!)) return null;
      requested = walk.remain!;
    }
    const shape = countShape(countArg, walk, body);
    if (shape === 'chunk') leave('pins in bounded chunks and consumes each chunk', 'chunked-loop');
    if (shape === 'other') return null;

    // Loop-local declarations, lock calls, the call, the error check, walkers.
    const callStmt = stmts.find((s) => s.startIndex <= g.call.startIndex && s.endIndex >= g.call.endIndex);
    if (!callStmt || exprOf(callStmt) !== null && exprOf(callStmt)!.startIndex !== assign.startIndex || callStmt.type !== 'expression_statement') {
      review('the GUP call is not a statement of its own in the loop body');
    }
    const glued = gluedToLineBefore(file.text, callStmt!);
    if (glued) review(glued);
    if (body.type !== 'compound_statement') review('loop body is not a block');
    const comment = hasCommentOrPreproc(loop);
    if (comment) review(`${comment.type === 'comment' ? 'a comment' : 'a preprocessor directive'} inside the loop`);
    if (loop.hasError || insideError(loop) || nearError(loop, fn)) {
      review('the code around the loop does not parse cleanly (a macro the parser does not know?)');
    }

    const locals = new Map<string, Node>();
    const before: Node[] = [];
    const after: Node[] = [];
    let check: Node | null = null;
    let seenCall = false;
    for (const s of stmts) {
      if (s === callStmt) {
        seenCall = true;
        continue;
      }
      if (walk.walkers.includes(s)) {
        if (!seenCall) review('the loop walks its variables before the GUP call');
        continue;
      }
      if (s.type === 'declaration' && !seenCall) {
        for (const d of declarators(s)) {
          const name = declaredName(d);
          const value = d.type === 'init_declarator' ? d.childForFieldName('value') : null;
          if (!name || !value) leave(`loop-local ${oneLine(d.text)} has no initial value`);
          locals.set(name!, value!);
        }
        continue;
      }
      const call = statementCall(s);
      if (call && LOCK_CALLS.has(callName(call) ?? '')) {
        (seenCall ? after : before).push(s);
        continue;
      }
      if (seenCall && !check && s.type === 'if_statement' && errorTest(s, result)) {
        check = s;
        continue;
      }
      leave(`the loop does other per-iteration work: \`${firstLine(s)}\``);
    }
    if (!check) review(`no \`${result} < 0\` check after the GUP call`);

    // Values at loop entry of what the loop advances.
    for (const name of [walk.remain, ...walk.advanced.keys()]) {
      if (!name) continue;
      walk.initial.set(name, initialValue(fn, name, loop) ?? name);
    }
    if (walk.remain) requested = walk.initial.get(walk.remain)!;

    // Fold the arguments to their values at the first iteration.
    const fold = new Folder(walk, locals);
    const start = fold.expr(startArg, 'addr');
    const count = fold.expr(countArg, 'count');
    const pages = fold.expr(pagesArg, 'pages');
    if (start === null || count === null || pages === null) {
      const bad = start === null ? startArg : count === null ? countArg : pagesArg;
      if (/\bmin(_t)?\s*\(/.test(bad.text)) leave('pins in bounded chunks and consumes each chunk', 'chunked-loop');
      leave(`argument \`${oneLine(bad.text)}\` uses the loop's walk in a way the rewrite can't follow`);
    }
    if (!fold.walkedStart || !fold.walkedPages || !fold.walkedCount) {
      review('the call does not advance start, count and pages with the loop');
    }
    if (walk.acc && !sameExpr(count!, requested)) {
      review(`count argument \`${count}\` differs from the loop bound \`${requested}\``);
    }
    for (const [i, a] of g.args.entries()) {
      if (i === sig!.start || i === sig!.count || i === sig!.pages) continue;
      for (const name of [walk.acc, walk.remain, ...walk.advanced.keys(), ...locals.keys()]) {
        if (name && identUses(a, name).length) review(`argument \`${oneLine(a.text)}\` uses ${name}`);
      }
    }
    if (sig!.vmas !== undefined && g.args[sig!.vmas].text !== 'NULL') review('a vmas array is filled by the loop');
    if (sig!.locked !== undefined && g.args[sig!.locked].text !== 'NULL') review('the call may drop mmap_lock (locked is not NULL)');
    const flags = completeFlags(flagsArg, fn);
    if ('refuse' in flags) review(flags.refuse);

    return plan(file, fn, g, loop, { walk, requested, locals, before, after, check: check!, callStmt: callStmt!, start: start!, count: count!, pages: pages!, flags: (flags as { text: string }).text, init });
  } catch (e) {
    if (e instanceof Refuse) return { category: e.category, action: e.action, reason: e.message };
    throw e;
  }
}

/**
 * The count argument of a retry loop asks for all that remains (`n - pinned`,
 * `remaining`, directly or through a variable set in the loop); a chunked loop
 * bounds it (`min(...)`).
 */
function countShape(arg: Node, walk: Walk, body: Node): 'retry' | 'chunk' | 'other' {
  const chunk = /\b(min|min_t|clamp|clamp_t)\s*\(/;
  let e = unparen(arg);
  if (e.type === 'identifier' && e.text !== walk.remain) {
    // A variable set inside the loop: look at what it is set to.
    const sets = [...writesTo(body, e.text)];
    if (sets.length !== 1) return chunk.test(sets.map((x) => x.text).join(' ')) ? 'chunk' : 'other';
    const w = sets[0];
    const v = w.type === 'init_declarator' ? w.childForFieldName('value') : writeTarget(w)?.value;
    if (!v) return 'other';
    e = unparen(v);
  }
  if (chunk.test(e.text)) return 'chunk';
  if (isIdent(e, walk.remain ?? undefined) && walk.remain) return 'retry';
  if (walk.acc && e.type === 'binary_expression' && e.childForFieldName('operator')?.text === '-' && isIdent(stripCast(e.childForFieldName('right')!), walk.acc)) return 'retry';
  return 'other';
}

/**
 * A parse error right at the site: in a statement next to the loop or next to
 * any block enclosing it (an iterator macro the parser read as a call, say).
 * Errors elsewhere in the function do not matter.
 */
function nearError(loop: Node, fn: Node): boolean {
  for (let n: Node | null = loop; n && n !== fn; n = n.parent) {
    if (n.type === 'ERROR') return true;
    for (const sib of [n.previousNamedSibling, n.nextNamedSibling]) {
      if (sib && (sib.hasError || sib.type === 'ERROR')) return true;
    }
  }
  return false;
}

function commaParts(e: Node): Node[] {
  if (e.type !== 'comma_expression') return [e];
  return [...commaParts(unparen(e.childForFieldName('left')!)), ...commaParts(unparen(e.childForFieldName('right')!))];
}

function firstLine(n: Node): string {
  return n.text.split('\n')[0].trim();
}

/** `acc < n`, `n > acc`, `acc != n`: returns n's text. */
function accCondition(cond: Node | null, acc: string): string | null {
  if (!cond || cond.type !== 'binary_expression') return null;
  const op = cond.childForFieldName('operator')?.text;
  const l = cond.childForFieldName('left')!;
  const r = cond.childForFieldName('right')!;
  if ((op === '<' || op === '!=') && isIdent(unparen(l), acc)) return oneLine(unparen(r).text);
  if ((op === '>' || op === '!=') && isIdent(unparen(r), acc)) return oneLine(unparen(l).text);
  return null;
}

function remainCondition(cond: Node, remain: string): boolean {
  if (isIdent(cond, remain)) return true;
  if (cond.type !== 'binary_expression') return false;
  const op = cond.childForFieldName('operator')?.text;
  return (op === '>' || op === '!=') && isIdent(unparen(cond.childForFieldName('left')!), remain) && cond.childForFieldName('right')!.text === '0';
}

/**
 * The number of pages pinned so far, as a release writes it: the accumulator,
 * `initial - remaining`, or `pages - initial pages`.
 */
function partialCount(count: Node, walk: Walk): boolean {
  const c = unparen(count);
  if (walk.acc) return isIdent(c, walk.acc);
  if (c.type !== 'binary_expression' || c.childForFieldName('operator')?.text !== '-') return false;
  const l = unparen(c.childForFieldName('left')!);
  const r = unparen(c.childForFieldName('right')!);
  if (walk.remain && isIdent(r, walk.remain)) return sameExpr(l, walk.initial.get(walk.remain) ?? '');
  for (const [name, kind] of walk.advanced) {
    if (kind === 'pages' && isIdent(l, name)) return sameExpr(r, walk.initial.get(name) ?? '');
  }
  return false;
}

/**
 * The value a variable holds when the loop starts: its initialiser, when
 * nothing else writes it before the loop and what the initialiser reads is
 * not changed in between. Null when unknown (e.g. a parameter).
 */
function initialValue(fn: Node, name: string, loop: Node): string | null {
  const writes = writesTo(fn, name).filter((w) => !within(w, loop));
  if (writes.length !== 1 || writes[0].type !== 'init_declarator') return null;
  const d = writes[0];
  if (d.endIndex > loop.startIndex) return null;
  const v = unparen(d.childForFieldName('value')!);
  if (!/^(identifier|field_expression|number_literal)$/.test(v.type)) return null;
  const root = /^[A-Za-z_]\w*/.exec(v.text)?.[0];
  if (root && writesTo(fn, root).some((w) => w.startIndex > d.endIndex && w.startIndex < loop.endIndex)) return null;
  return oneLine(v.text);
}

/** `if (ret < 0)` / `if (ret <= 0)` (maybe in unlikely()): the comparison node. */
function errorTest(ifStmt: Node, result: string): Node | null {
  let c = unparen(ifStmt.childForFieldName('condition')!);
  if (c.type === 'call_expression' && /^(unlikely|likely)$/.test(callName(c) ?? '')) {
    const a = c.childForFieldName('arguments')!.namedChildren;
    if (a.length !== 1) return null;
    c = unparen(a[0]);
  }
  if (c.type !== 'binary_expression') return null;
  const op = c.childForFieldName('operator')?.text;
  return (op === '<' || op === '<=') && isIdent(unparen(c.childForFieldName('left')!), result) && c.childForFieldName('right')!.text === '0' ? c : null;
}

/**
 * Folds a call argument to its value at the first iteration: the accumulator
 * is 0, remainders and advanced pointers hold their initial values, and
 * loop-locals are replaced by their initialisers.
 */
class Folder {
  walkedStart = false;
  walkedCount = false;
  walkedPages = false;
  constructor(
    private readonly walk: Walk,
    private readonly locals: Map<string, Node>,
  ) {}

  expr(n: Node, role: 'addr' | 'count' | 'pages'): string | null {
    const e = unparen(n);
    if (e.type === 'identifier') {
      const local = this.locals.get(e.text);
      if (local) return this.expr(local, role);
      if (e.text === this.walk.acc) return null;
      if (e.text === this.walk.remain) {
        if (role !== 'count') return null;
        this.walkedCount = true;
        return this.walk.initial.get(e.text) ?? e.text;
      }
      const adv = this.walk.advanced.get(e.text);
      if (adv) {
        if ((adv === 'addr') !== (role === 'addr')) return null;
        if (role === 'addr') this.walkedStart = true;
        else this.walkedPages = true;
        return this.walk.initial.get(e.text) ?? e.text;
      }
      return e.text;
    }
    const acc = this.walk.acc;
    if (acc) {
      if (role === 'addr' && e.type === 'binary_expression' && e.childForFieldName('operator')?.text === '+') {
        const l = e.childForFieldName('left')!;
        const r = e.childForFieldName('right')!;
        if (scaledBy(this.subst(r), acc)) return this.base(l, role, 'walkedStart');
        if (scaledBy(this.subst(l), acc)) return this.base(r, role, 'walkedStart');
      }
      if (role === 'count' && e.type === 'binary_expression' && e.childForFieldName('operator')?.text === '-' && this.isAcc(e.childForFieldName('right')!)) {
        return this.base(e.childForFieldName('left')!, role, 'walkedCount');
      }
      if (role === 'pages' && e.type === 'binary_expression' && e.childForFieldName('operator')?.text === '+' && this.isAcc(e.childForFieldName('right')!)) {
        return this.base(e.childForFieldName('left')!, role, 'walkedPages');
      }
      if (role === 'pages' && e.type === 'pointer_expression' && e.child(0)?.text === '&') {
        const sub = unparen(e.childForFieldName('argument')!);
        if (sub.type === 'subscript_expression' && this.isAcc(sub.childForFieldName('index')!)) {
          return this.base(sub.childForFieldName('argument')!, role, 'walkedPages');
        }
      }
    }
    if (e.type === 'cast_expression' && role === 'addr') {
      const v = this.expr(e.childForFieldName('value')!, role);
      if (v === null) return null;
      const typ = oneLine(e.childForFieldName('type')!.text);
      return `(${typ})${/^[\w>.-]+$/.test(v) ? v : `(${v})`}`;
    }
    // Anything else must not involve the walk at all.
    for (const name of [this.walk.acc, this.walk.remain, ...this.walk.advanced.keys(), ...this.locals.keys()]) {
      if (name && identUses(e, name).length) return null;
    }
    return oneLine(e.text);
  }

  /** Resolve a loop-local to its initialiser, for pattern tests. */
  private subst(n: Node): Node {
    const e = unparen(n);
    if (e.type === 'identifier' && this.locals.has(e.text)) return this.subst(this.locals.get(e.text)!);
    return n;
  }

  private isAcc(n: Node): boolean {
    const e = unparen(this.subst(n));
    return isIdent(stripCast(e), this.walk.acc!);
  }

  private base(n: Node, role: 'addr' | 'count' | 'pages', flag: 'walkedStart' | 'walkedCount' | 'walkedPages'): string | null {
    this[flag] = true;
    const v = this.expr(n, role);
    return v;
  }
}

interface Parts {
  walk: Walk;
  requested: string;
  locals: Map<string, Node>;
  before: Node[];
  after: Node[];
  check: Node;
  callStmt: Node;
  start: string;
  count: string;
  pages: string;
  flags: string;
  init: Node | null;
}

/** Build the edits for a recognised loop, or refuse. */
function plan(file: ParsedFile, fn: Node, g: GupCall, loop: Node, p: Parts): Verdict {
  const text = file.text;
  const edits: Edit[] = [];
  const removed: string[] = [];
  const notes: string[] = [];
  const { walk, requested, check } = p;
  const indent = indentAt(text, loop.startIndex);
  if (!/^\t*$/.test(indent)) review('the loop is not indented with tabs');
  const inner = new InnerEdits(text);

  // The error check inside the loop.
  const sig = g.sig!;
  const args = g.args.map((a) => oneLine(a.text));
  args[sig.start] = p.start;
  args[sig.count] = p.count;
  args[sig.pages] = p.pages;
  args[sig.flags] = p.flags;
  const result = walk.result;
  const assignLead = indent + text.slice(p.callStmt.startIndex, g.call.startIndex).replace(/\s+/g, ' ');
  const callText = formatCall(assignLead, g.api.name, args, ';');

  let tail: Node | null = null; // the check after the loop, in the break form
  const between: Node[] = []; // lock calls between the loop and that check
  const inLoop = analyzeBranch(file, fn, loop, check, p, inner, 'loop');
  let fail = inLoop;
  let checkText: string | null = null;
  if (inLoop.terminator === 'break') {
    // Break form: the in-loop check goes, the check after the loop takes over.
    if (inLoop.kept.length) review('the in-loop failure branch does more than break');
    let next = nextStatement(loop);
    while (next && LOCK_CALLS.has(callName(statementCall(next)) ?? '')) {
      between.push(next);
      next = nextStatement(next);
    }
    const t = next && next.type === 'if_statement' ? afterLoopTest(next, result, walk) : null;
    if (!t) {
      const returned = walk.acc && fn.descendantsOfType('return_statement').some((r) => r.startIndex > loop.endIndex && identUses(r, walk.acc!).length > 0);
      if (returned) leave(`returns the ${walk.acc} pages pinned so far to its caller: a partial result is used`, 'partial-ok');
      review('the loop breaks out on failure but no failure check follows it');
    }
    tail = next!;
    fail = analyzeBranch(file, fn, loop, tail, p, inner, 'after', inLoop.released);
    if (fail.terminator === 'break') review('the failure check after the loop breaks');
    if (t!.kind === 'count') inner.replace(t!.node, result);
    else if (t!.kind === 'le') inner.replace(t!.op, '<');
    // Rebuilt only when it changes: a check kept as it was keeps its bytes (trailing blanks included).
    const rebuilt = rebuildIf(text, tail, fail.kept, inner, indent, 0);
    const same = text.slice(tail.startIndex, tail.endIndex).replace(/[ \t]+(?=\r?\n)/g, '').replace(/\r\n/g, '\n');
    if (rebuilt !== same) edits.push({ start: tail.startIndex, end: tail.endIndex, text: rebuilt });
  } else {
    const t = errorTest(check, result)!;
    if (t.childForFieldName('operator')?.text === '<=') inner.replace(t.childForFieldName('operator')!, '<');
    checkText = rebuildIf(text, check, inLoop.kept, inner, indent, 1);
  }
  notes.push(...fail.notes);

  // The loop becomes: locks, call, unlocks, check.
  const lines: string[] = [];
  for (const s of p.before) lines.push(dedentOrRefuse(text.slice(s.startIndex, s.endIndex)));
  lines.push(callText.slice(indent.length));
  for (const s of p.after) lines.push(dedentOrRefuse(text.slice(s.startIndex, s.endIndex)));
  if (checkText !== null) lines.push(checkText);
  edits.push({ start: loop.startIndex, end: loop.endIndex, text: lines.join('\n' + indent) });
  if (tail) {
    // Drop the blank line between the call and the check that followed the loop.
    const gap = text.slice(loop.endIndex, tail.startIndex);
    if (/^[ \t]*\r?\n[ \t]*\r?\n[ \t]*$/.test(gap)) {
      edits.push({ start: loop.endIndex, end: tail.startIndex, text: '\n' + indent });
    }
  }
  edits.push(...fail.outer);

  // Variables that walked the loop: uses after it, and their declarations.
  const loopEnd = (tail ?? loop).endIndex;
  const failureFrom = fail.failureFrom;
  for (const name of [walk.remain, ...walk.advanced.keys()]) {
    if (!name) continue;
    const later = identUses(fn, name).filter((u) => u.startIndex >= loopEnd);
    if (later.length) review(`${name} is used after the loop, where it no longer holds the advanced value`);
  }
  if (walk.acc) {
    const acc = walk.acc;
    const writes = writesTo(fn, acc).filter((w) => !within(w, loop));
    const uses = identUses(fn, acc).filter((u) => !within(u, loop) && !(tail && within(u, tail)) && !isDeclOf(u, acc));
    const initEdits: Edit[] = [];
    // The accumulator must start at 0: a `= 0` initialiser or statement before the loop.
    const forInit = p.init && writesTo(p.init, acc).length > 0;
    if (forInit) {
      if (!zeroInit(p.init!, acc)) review(`${acc} does not start at 0`);
    }
    const outsideWrites = writes.filter((w) => !(p.init && within(w, p.init)));
    const zeroes = outsideWrites.filter((w) => w.endIndex <= loop.startIndex && zeroWrite(w));
    if (outsideWrites.length !== zeroes.length || (!forInit && zeroes.length !== 1) || zeroes.length > 1) {
      review(`${acc} is written outside the loop`);
    }
    for (const w of zeroes) {
      if (w.type === 'init_declarator') continue;
      if (!onStraightPath(w, loop)) review(`${acc} is set to 0 on a conditional path`);
      initEdits.push(deleteWrite(text, w, acc));
    }
    for (const u of uses) {
      if (inner.touches(u) || fail.handled.some((h) => within(u, h))) continue;
      if (fail.outer.some((e) => u.startIndex >= e.start && u.endIndex <= e.end)) continue;
      if (u.startIndex < loop.startIndex) {
        if (zeroes.some((z) => within(u, z))) continue;
        review(`${acc} is read before the loop`);
      }
      if (failureFrom !== null && u.startIndex >= failureFrom) review(`${acc} is read on the failure path after the loop`);
      const early = earlyLabel(fn, loop, u);
      if (early) review(`${acc} is read after label ${early}, which a goto before the loop reaches`);
      edits.push({ start: u.startIndex, end: u.endIndex, text: countText(u, requested) });
      notes.push(`later uses of ${acc} read ${requested}`);
    }
    checkStable(fn, requested, loop);
    edits.push(...initEdits);
  }
  // The result's value after a successful loop changes (last chunk -> 0).
  const read = readBeforeWrite(fn, result, nextStatement(tail ?? loop));
  if (read) review(`${result} is read after the loop (\`${firstLine(read)}\`), where it held the last chunk's count`);
  // Declarations of variables nothing uses any more.
  const all = mergeInner(edits, inner);
  const gone = [walk.acc, walk.remain, ...walk.advanced.keys(), ...fail.unusedIndex].filter(
    (name): name is string => !!name && unusedAfter(fn, name, all),
  );
  if (walk.acc && !gone.includes(walk.acc) && !isLocal(fn, walk.acc)) review(`${walk.acc} is not a local variable of the function`);
  const decl = declarationEdits(text, fn, gone);
  all.push(...decl.edits);
  removed.push(...decl.removed);

  const reason =
    `${walk.acc ? `accumulates ${walk.acc} += ${result} until ${requested}` : `counts ${walk.remain} down by ${result}`}` +
    `; folded into one FOLL_COMPLETE call` +
    (notes.length ? `; ${[...new Set(notes)].join('; ')}` : '');
  return { category: 'retry-loop', action: 'rewrite', reason, plan: { edits: all, removed } };
}

function isLocal(fn: Node, name: string): boolean {
  return fn.descendantsOfType('declaration').some((d) => declarators(d).some((x) => declaredName(x) === name));
}

function dedentOrRefuse(s: string, levels = 1): string {
  const d = dedent(s, levels);
  if (d === null) review('the loop body is not indented with tabs');
  return d!;
}

function within(n: Node, outer: Node): boolean {
  return n.startIndex >= outer.startIndex && n.endIndex <= outer.endIndex;
}

/** A label at or before `u` that a goto placed before the loop jumps to. */
function earlyLabel(fn: Node, loop: Node, u: Node): string | null {
  for (const [name, labeled] of labelsOf(fn)) {
    if (labeled.startIndex > u.startIndex) continue;
    if (gotosTo(fn, name).some((g) => g.startIndex < loop.startIndex)) return name;
  }
  return null;
}

/** `acc = 0` in a for initialiser (possibly among comma parts). */
function zeroInit(init: Node, acc: string): boolean {
  return writesTo(init, acc).every((w) => zeroWrite(w));
}

/** `x = 0`, `x = y = 0`, `int x = 0`. */
function zeroWrite(w: Node): boolean {
  if (w.type === 'init_declarator') return unparen(w.childForFieldName('value')!).text === '0';
  const t = writeTarget(w);
  if (!t || t.op !== '=' || !t.value) return false;
  let v = unparen(t.value);
  while (v.type === 'assignment_expression') v = unparen(v.childForFieldName('right')!);
  return v.text === '0';
}

/** Is `w` in a block that encloses `loop` (so it always runs before it)? */
function onStraightPath(w: Node, loop: Node): boolean {
  let stmt: Node | null = w;
  while (stmt && stmt.type !== 'expression_statement') stmt = stmt.parent;
  const block = stmt?.parent;
  if (!block || block.type !== 'compound_statement') return false;
  return loop.startIndex >= block.startIndex && loop.endIndex <= block.endIndex;
}

/** Delete `acc = 0;`, or turn `acc = ret = 0;` into `ret = 0;`. */
function deleteWrite(text: string, w: Node, acc: string): Edit {
  const stmt = w.parent!;
  const right = unparen(w.childForFieldName('right')!);
  if (right.type === 'assignment_expression') {
    return { start: w.startIndex, end: right.startIndex, text: '' };
  }
  if (stmt.type !== 'expression_statement') review(`${acc} = 0 is not a statement of its own`);
  return deleteNodeLines(text, stmt);
}

/** The requested count in place of a read of the accumulator, parenthesised where needed. */
function countText(u: Node, requested: string): string {
  if (/^[\w>.-]+$/.test(requested) && !/[-]/.test(requested.replace(/->/g, ''))) return requested;
  const p = u.parent!;
  const bare = ['argument_list', 'init_declarator', 'return_statement', 'expression_statement'];
  if (bare.includes(p.type) || (p.type === 'assignment_expression' && p.childForFieldName('right') === u)) return requested;
  return `(${requested})`;
}

/** The requested count must hold its value after the loop. */
function checkStable(fn: Node, requested: string, loop: Node): void {
  const root = /^\(*([A-Za-z_]\w*)/.exec(requested)?.[1];
  if (!root) review(`requested count \`${requested}\` is not a plain expression`);
  const writes = writesTo(fn, root!).filter((w) => w.startIndex >= loop.startIndex);
  if (writes.length) review(`${root} is changed after the loop starts`);
  // Writes to a field chain (`obj->n = ...`).
  for (const a of fn.descendantsOfType(['assignment_expression', 'update_expression'])) {
    const t = writeTarget(a);
    if (t && a.startIndex >= loop.startIndex && norm(t.target.text) === norm(requested)) review(`${requested} is changed after the loop starts`);
  }
}

/**
 * Walk the path that runs after a successful loop, from `stmt` on, following
 * gotos and falling out of blocks: the first statement that reads `name`
 * before writing it, or null when every path writes it first or returns.
 */
function readBeforeWrite(fn: Node, name: string, stmt: Node | null): Node | null {
  const labels = labelsOf(fn);
  const seen = new Set<number>();
  const flow = new PathFlow(fn, name, labels, seen);
  let s = stmt;
  while (s) {
    const f = flow.stmt(s);
    if (f.read) return f.read;
    if (f.writes || f.exits) return null;
    let next = nextStatement(s);
    let up: Node | null = s.parent;
    while (!next && up && up !== fn) {
      if (up.type === 'compound_statement' && up.parent === fn) return null;
      if (/^(for|while|do)_statement$/.test(up.type) || up.type === 'switch_statement') return up;
      next = nextStatement(up);
      up = up.parent;
    }
    s = next;
  }
  return null;
}

interface Flow {
  /** The first statement that reads the name before it is written. */
  read: Node | null;
  /** Every path that goes on has written the name. */
  writes: boolean;
  /** No path goes on (all return or jump away). */
  exits: boolean;
}

const NONE: Flow = { read: null, writes: false, exits: false };

/** Does a path through some statements read a variable before writing it? */
class PathFlow {
  constructor(
    private readonly fn: Node,
    private readonly name: string,
    private readonly labels: Map<string, Node>,
    private readonly seen: Set<number>,
  ) {}

  seq(stmts: Node[]): Flow {
    for (const s of stmts) {
      if (s.type === 'comment') continue;
      const f = this.stmt(s);
      if (f.read || f.writes || f.exits) return f;
    }
    return NONE;
  }

  /** From a label to the end of its block, falling through later labels. */
  fromLabel(l: Node): Flow {
    if (this.seen.has(l.startIndex)) return { read: null, writes: false, exits: true };
    this.seen.add(l.startIndex);
    const list: Node[] = [];
    for (let x: Node | null = l; x; x = nextStatement(x)) list.push(x);
    const f = this.seq(list);
    return f.read || f.writes || f.exits ? f : { read: null, writes: false, exits: true };
  }

  stmt(s0: Node): Flow {
    const s = unlabel(s0).stmt;
    const uses = identUses(s, this.name);
    switch (s.type) {
      case 'expression_statement': {
        const e = s.namedChild(0);
        const w = e ? writeTarget(e) : null;
        if (w && w.op === '=' && isIdent(unparen(w.target), this.name) && identUses(w.value!, this.name).length === 0) {
          return { read: null, writes: true, exits: false };
        }
        return uses.length ? { read: s, writes: false, exits: false } : NONE;
      }
      case 'return_statement':
        return uses.length ? { read: s, writes: false, exits: true } : { read: null, writes: false, exits: true };
      case 'goto_statement': {
        const l = this.labels.get(s.childForFieldName('label')!.text);
        if (!l) return { read: s, writes: false, exits: true };
        const f = this.fromLabel(l);
        return { read: f.read, writes: false, exits: true };
      }
      case 'compound_statement':
        return this.seq(s.namedChildren);
      case 'if_statement': {
        if (identUses(s.childForFieldName('condition')!, this.name).length) return { read: s, writes: false, exits: false };
        const t = this.stmt(s.childForFieldName('consequence')!);
        const altClause = s.childForFieldName('alternative');
        const e = altClause ? this.stmt(altClause.namedChildren[0]) : NONE;
        if (t.read || e.read) return { read: t.read ?? e.read, writes: false, exits: false };
        const exits = t.exits && e.exits;
        const writes = !exits && (t.writes || t.exits) && (e.writes || e.exits);
        return { read: null, writes, exits };
      }
      case 'declaration':
        return uses.length ? { read: s, writes: false, exits: false } : NONE;
      default:
        // Loops, switches, break/continue: only when they do not touch the name.
        if (uses.length || s.descendantsOfType(['goto_statement', 'return_statement', 'break_statement', 'continue_statement']).length || /^(break|continue)_statement$/.test(s.type)) {
          return { read: s, writes: false, exits: false };
        }
        return NONE;
    }
  }
}

function nextStatement(n: Node): Node | null {
  let s = n.nextNamedSibling;
  while (s && s.type === 'comment') s = s.nextNamedSibling;
  return s;
}

/** The failure test after a loop left by break: `ret < 0`, `ret <= 0`, `pinned != n`, `pinned < n`. */
function afterLoopTest(ifs: Node, result: string, walk: Walk): { kind: 'keep' | 'le' | 'count'; node: Node; op: Node } | null {
  const c = unparen(ifs.childForFieldName('condition')!);
  if (c.type !== 'binary_expression') return null;
  const opNode = c.childForFieldName('operator')!;
  const op = opNode.text;
  const l = unparen(c.childForFieldName('left')!);
  const r = unparen(c.childForFieldName('right')!);
  if (isIdent(l, result) && r.text === '0' && (op === '<' || op === '<=')) return { kind: op === '<' ? 'keep' : 'le', node: c, op: opNode };
  if (walk.acc && ((op === '!=' || op === '<') && isIdent(l, walk.acc) || (op === '!=' || op === '>') && isIdent(r, walk.acc))) {
    return { kind: 'count', node: c, op: opNode };
  }
  if (walk.remain && isIdent(c, walk.remain)) return { kind: 'count', node: c, op: opNode };
  return null;
}

/** Edits inside statements that are re-emitted as text (the check, its branch). */
class InnerEdits {
  readonly edits: Edit[] = [];
  constructor(private readonly text: string) {}
  replace(n: Node, t: string): void {
    this.edits.push({ start: n.startIndex, end: n.endIndex, text: t });
  }
  remove(e: Edit): void {
    this.edits.push(e);
  }
  touches(n: Node): boolean {
    return this.edits.some((e) => n.startIndex >= e.start && n.endIndex <= e.end);
  }
  slice(n: Node): string {
    return sliceWithEdits(this.text, n.startIndex, n.endIndex, this.edits);
  }
}

/** Inner edits that fall outside replaced ranges become edits of their own. */
function mergeInner(edits: Edit[], inner: InnerEdits): Edit[] {
  const out = [...edits];
  for (const e of inner.edits) {
    if (!edits.some((o) => e.start >= o.start && e.end <= o.end)) out.push(e);
  }
  return out;
}

interface BranchResult {
  kept: Node[];
  terminator: 'return' | 'goto' | 'break';
  /** Edits outside the loop (label repair). */
  outer: Edit[];
  notes: string[];
  failureFrom: number | null;
  /** Nodes removed from the branch (releases, 0 -> errno mappings). */
  handled: Node[];
  releaseNodes: Node[];
  unusedIndex: string[];
  /** The partial pages are released on this path (in this branch or before it). */
  released: boolean;
}

/**
 * The failure branch of a check: drop the partial release and any mapping of a
 * 0 return to an errno, repair the goto target when the release sits under a
 * label, keep the rest.
 */
function analyzeBranch(file: ParsedFile, fn: Node, loop: Node, ifs: Node, p: Parts, inner: InnerEdits, where: 'loop' | 'after', releasedBefore = false): BranchResult {
  if (ifs.childForFieldName('alternative')) review('the failure check has an else branch');
  const cons = ifs.childForFieldName('consequence')!;
  const stmts = blockStatements(cons);
  const comment = hasCommentOrPreproc(cons);
  if (comment && where === 'after') review('a comment or preprocessor directive inside the failure branch');
  const res: BranchResult = { kept: [], terminator: 'return', outer: [], notes: [], failureFrom: null, handled: [], releaseNodes: [], unusedIndex: [], released: false };
  const acc = p.walk.acc;
  const last = stmts[stmts.length - 1];
  if (!last) review('empty failure branch');
  const term = unlabel0(last);
  if (term.type === 'break_statement') res.terminator = 'break';
  else if (term.type === 'goto_statement') res.terminator = 'goto';
  else if (term.type === 'return_statement') res.terminator = 'return';
  else review('the failure branch neither returns, jumps to a label nor breaks');
  let released = false;
  for (const s of stmts.slice(0, -1)) {
    const rel = releaseOf(s, file);
    if (rel && partialCount(rel.count, p.walk)) {
      if (!sameExpr(rel.pages, p.pages)) review(`the failure branch releases ${rel.pages}, not ${p.pages}`);
      released = true;
      res.handled.push(s);
      res.releaseNodes.push(s);
      if (rel.index) res.unusedIndex.push(rel.index);
      continue;
    }
    if (zeroToErrno(s, p.walk.result)) {
      res.handled.push(s);
      continue;
    }
    for (const name of [acc, p.walk.remain, ...p.walk.advanced.keys(), ...p.locals.keys()]) {
      if (name && identUses(s, name).length) review(`the failure branch uses ${name}: \`${firstLine(s)}\``);
    }
    res.kept.push(s);
  }
  if (res.terminator === 'return') {
    const v = term.namedChild(0);
    const fixed = v ? returnWithoutZeroMapping(v, p.walk.result) : null;
    if (fixed !== null) inner.replace(v!, fixed);
    for (const name of [acc, p.walk.remain, ...p.walk.advanced.keys(), ...p.locals.keys()]) {
      if (name && identUses(term, name).length) review(`the failure branch returns a value built from ${name}`);
    }
    res.kept.push(last);
  } else if (res.terminator === 'goto') {
    if (acc) {
      const repair = repairLabel({ file, fn, goto: term, count: acc, requested: p.requested, pages: p.pages, pinnedFrom: loop.startIndex });
      if ('refuse' in repair) review(repair.refuse);
      const r = repair as Exclude<typeof repair, { refuse: string }>;
      if (r.released && released) review('the partial pages are released both in the branch and at the label');
      if (r.gotoText !== null) inner.replace(term, r.gotoText);
      if (r.note) res.notes.push(r.note);
      released = released || r.released;
      res.outer.push(...r.edits);
      res.failureFrom = r.failureFrom;
    } else if (!released && where === 'loop') {
      // Decrementing form without an accumulator: the label cannot release a count we know.
      res.failureFrom = null;
    }
    res.kept.push(last);
  }
  res.released = released || releasedBefore;
  if (res.terminator !== 'break' && !res.released && res.notes.length === 0 && res.outer.length === 0) {
    review('the failure path does not release the pages pinned so far');
  }
  return res;
}

function unlabel0(n: Node): Node {
  while (n.type === 'labeled_statement') n = n.namedChildren[n.namedChildren.length - 1];
  return n;
}

/** `if (!ret) ret = -EFAULT;`, `if (ret == 0) ...`, `ret = ret ?: -EFAULT;`, `ret = ret ? ret : -E;` */
function zeroToErrno(s: Node, result: string): boolean {
  if (s.type === 'if_statement' && !s.childForFieldName('alternative')) {
    const c = unparen(s.childForFieldName('condition')!);
    const isZeroTest =
      (c.type === 'unary_expression' && c.child(0)?.text === '!' && isIdent(unparen(c.childForFieldName('argument')!), result)) ||
      (c.type === 'binary_expression' && c.childForFieldName('operator')?.text === '==' && isIdent(unparen(c.childForFieldName('left')!), result) && c.childForFieldName('right')!.text === '0');
    if (!isZeroTest) return false;
    const inner = blockStatements(s.childForFieldName('consequence')!);
    if (inner.length !== 1) return false;
    const e = exprOf(inner[0]);
    const w = e ? writeTarget(e) : null;
    return !!w && w.op === '=' && isIdent(unparen(w.target), result) && /^-E[A-Z0-9]+$/.test(norm(w.value!.text));
  }
  const e = exprOf(s);
  const w = e ? writeTarget(e) : null;
  if (!w || w.op !== '=' || !isIdent(unparen(w.target), result)) return false;
  return returnWithoutZeroMapping(w.value!, result) === result;
}

/** `ret ?: -EFAULT` / `ret ? ret : -EFAULT` -> `ret`; otherwise null. */
function returnWithoutZeroMapping(v: Node, result: string): string | null {
  const e = unparen(v);
  if (e.type !== 'conditional_expression') return null;
  const c = unparen(e.childForFieldName('condition')!);
  const cons = e.childForFieldName('consequence');
  const alt = e.childForFieldName('alternative')!;
  if (!isIdent(c, result) || !/^-E[A-Z0-9]+$/.test(norm(alt.text))) return null;
  if (cons && !isIdent(unparen(cons), result)) return null;
  return result;
}

/**
 * Re-emit an if statement with only `kept` statements in its branch, at
 * `indent`; `levels` is how many tabs deeper it stood before.
 */
function rebuildIf(text: string, ifs: Node, kept: Node[], inner: InnerEdits, indent: string, levels: number): string {
  const cond = ifs.childForFieldName('condition')!;
  const head = 'if ' + oneLine(inner.slice(cond));
  const stmtText = (s: Node) => dedentOrRefuse(inner.slice(s), levels);
  if (kept.length === 1) {
    return `${head}\n${indent}\t${stmtText(kept[0])}`;
  }
  const parts: string[] = [];
  kept.forEach((s, i) => {
    if (i > 0 && /\n[ \t]*\r?\n/.test(text.slice(kept[i - 1].endIndex, s.startIndex))) parts.push('');
    parts.push(`${indent}\t${stmtText(s)}`);
  });
  return `${head} {\n${parts.join('\n')}\n${indent}}`;
}

export default defineTransform<Rewrite>({
  meta: {
    id: ID,
    summary: 'fold GUP retry loops into one FOLL_COMPLETE call',
    rewrites:
      'loops that re-call a GUP function and accumulate its result (pinned += ret, or remaining -= ret) until the whole range is pinned, releasing the pinned pages on error',
    refuses: [
      'chunked loops that consume each chunk (category chunked-loop)',
      'loops doing other per-iteration work',
      '*_fast_only calls',
      'accumulators that are struct fields or out-parameters',
      'loops with a comment, #if or parse error inside, or whose failure label cannot be repaired with an existing label (review)',
    ],
    help: 'FOLL_COMPLETE pins exactly npages or fails (0 or -errno, nothing left pinned); see "Re: [PATCH 1/2] mm: reorganize internal_get_user_pages_fast()", linux-mm, 27 Oct 2020',
    commitText: {
      subject: 'replace the GUP retry loop{s} with FOLL_COMPLETE',
      site:
        '{function} calls {api} in a loop that {what}: one call may pin fewer pages than asked, so the loop asks again for the rest, and when a call fails it releases the pages pinned so far.[[ Along with the loop: {notes}.]]',
      why:
        'With FOLL_COMPLETE, {apis} pins all the requested pages or none: when it cannot pin them all, it returns -errno with no page left pinned. One call does the work of the loop, and the error path no longer releases a partial pin, since a failed call leaves nothing pinned.',
      errno: 'The loop never treated a short pin as an error, so the errno returned when pinning fails is unchanged.',
      fix: '{function} did not release the pages pinned by earlier calls when a later call failed, leaking them; with FOLL_COMPLETE a failed call leaves nothing pinned, which fixes the leak.',
      cover:
        'FOLL_COMPLETE, as Jason Gunthorpe proposed in "Re: [PATCH 1/2] mm: reorganize internal_get_user_pages_fast()" (linux-mm, 27 October 2020), makes a GUP call pin exactly the requested number of pages or fail with -errno and nothing left pinned. Callers that loop until every page is pinned can make one call instead.',
      omit: ['folded into one FOLL_COMPLETE call'],
    },
  },
  match(file: ParsedFile): Match<Rewrite>[] {
    const out: Match<Rewrite>[] = [];
    for (const g of findGupCalls(file)) {
      const v = analyze(file, g);
      if (!v) continue;
      const m: Match<Rewrite> = {
        site: siteFor(file, g, { category: v.category, action: v.action, reason: v.reason, transform: ID }),
        callStart: g.call.startIndex,
        fnRange: g.fn ? [g.fn.startIndex, g.fn.endIndex] : null,
      };
      if (v.action === 'rewrite') m.plan = v.plan;
      out.push(m);
    }
    return out;
  },
  rewrite(m: Match<Rewrite>) {
    return m.plan ?? { refuse: m.site.reason };
  },
});
