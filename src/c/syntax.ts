/** Small pure helpers over C syntax nodes that several transforms share. */
import type { Node } from '../parse/index.js';
import { walk } from '../parse/index.js';

/** Strip redundant parentheses. */
export function unparen(n: Node): Node {
  while (n.type === 'parenthesized_expression' && n.namedChildCount === 1) {
    n = n.namedChild(0)!;
  }
  return n;
}

/** Whitespace-insensitive text for comparing expressions. */
export function norm(text: string): string {
  return text.replace(/\s+/g, '');
}

/** Two expressions written the same way (ignoring whitespace and outer parentheses). */
export function sameExpr(a: Node | string, b: Node | string): boolean {
  const ta = typeof a === 'string' ? a : unparen(a).text;
  const tb = typeof b === 'string' ? b : unparen(b).text;
  return norm(stripOuterParens(ta)) === norm(stripOuterParens(tb));
}

function stripOuterParens(t: string): string {
  t = t.trim();
  while (t.startsWith('(') && t.endsWith(')') && balancedInner(t)) t = t.slice(1, -1).trim();
  return t;
}

function balancedInner(t: string): boolean {
  let depth = 0;
  for (let i = 0; i < t.length; i++) {
    if (t[i] === '(') depth++;
    else if (t[i] === ')') {
      depth--;
      if (depth === 0 && i !== t.length - 1) return false;
    }
  }
  return depth === 0;
}

/** Collapse a possibly multi-line expression onto one line. */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

export function isIdent(n: Node | null | undefined, name?: string): boolean {
  return !!n && n.type === 'identifier' && (name === undefined || n.text === name);
}

/** Name of the function called by a call_expression, when it is a plain identifier. */
export function callName(n: Node | null | undefined): string | null {
  if (!n || n.type !== 'call_expression') return null;
  const f = n.childForFieldName('function');
  return f && f.type === 'identifier' ? f.text : null;
}

/** Arguments of a call, comments excluded. */
export function callArgs(n: Node): Node[] {
  const list = n.childForFieldName('arguments');
  return list ? list.namedChildren.filter((c) => c.type !== 'comment') : [];
}

/** The call in an expression statement `f(...);`, if it is one. */
export function statementCall(stmt: Node): Node | null {
  if (stmt.type !== 'expression_statement') return null;
  const e = stmt.namedChild(0);
  return e && e.type === 'call_expression' ? e : null;
}

/** All identifier nodes named `name` within `scope`. */
export function identUses(scope: Node, name: string): Node[] {
  // Cheap test first: most scopes do not mention the name at all.
  if (!scope.text.includes(name)) return [];
  return scope.descendantsOfType('identifier').filter((n) => n.text === name);
}

export function contains(outer: Node | [number, number], inner: Node): boolean {
  const [s, e] = Array.isArray(outer) ? outer : [outer.startIndex, outer.endIndex];
  return inner.startIndex >= s && inner.endIndex <= e;
}

/** Statements of a block, or the single statement of a non-block body. */
export function blockStatements(body: Node): Node[] {
  return body.type === 'compound_statement' ? body.namedChildren : [body];
}

/** Does the subtree hold a comment or preprocessor directive? */
export function hasCommentOrPreproc(n: Node): Node | null {
  let found: Node | null = null;
  walk(n, (c) => {
    if (found) return false;
    if (c.type === 'comment' || c.type.startsWith('preproc')) {
      found = c;
      return false;
    }
    return true;
  }, (t) => !found && (t === 'comment' || t.startsWith('preproc')));
  return found;
}

/** The identifier written by an assignment or update expression, with its operator. */
export function writeTarget(n: Node): { target: Node; op: string; value: Node | null } | null {
  if (n.type === 'assignment_expression') {
    const left = n.childForFieldName('left');
    const op = n.childForFieldName('operator')?.text ?? n.child(1)?.text ?? '=';
    return left ? { target: left, op, value: n.childForFieldName('right') } : null;
  }
  if (n.type === 'update_expression') {
    const arg = n.childForFieldName('argument');
    const op = n.childForFieldName('operator')?.text ?? '';
    return arg ? { target: arg, op, value: null } : null;
  }
  return null;
}

/** Every write to variable `name` in `scope`: assignments, ++/--, initialisers. */
export function writesTo(scope: Node, name: string): Node[] {
  const out: Node[] = [];
  for (const n of scope.descendantsOfType(['assignment_expression', 'update_expression', 'init_declarator'])) {
    const w = writeTarget(n);
    if (w && isIdent(unparen(w.target), name)) out.push(n);
    if (n.type === 'init_declarator' && declaredName(n) === name) out.push(n);
  }
  return out;
}

/** The declarators of a declaration (identifiers, init_declarators, pointers...). */
export function declarators(decl: Node): Node[] {
  return decl.childrenForFieldName('declarator');
}

/** Name declared by a declarator, through pointers, arrays and initialisers. */
export function declaredName(d: Node): string | null {
  let n: Node | null = d;
  while (n && n.type !== 'identifier') {
    n = n.childForFieldName('declarator');
  }
  return n ? n.text : null;
}
