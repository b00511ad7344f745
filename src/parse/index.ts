/**
 * The only module that touches the tree-sitter API.
 *
 * Everything else sees syntax through the small `Node` interface below, which
 * tree-sitter's SyntaxNode satisfies structurally; offsets are string offsets,
 * equal to byte offsets because sources are decoded as latin1.
 */
import { createRequire } from 'node:module';
import type Parser from 'tree-sitter';

export interface Point {
  row: number;
  column: number;
}

export interface Node {
  readonly type: string;
  readonly text: string;
  readonly startIndex: number;
  readonly endIndex: number;
  readonly startPosition: Point;
  readonly endPosition: Point;
  readonly parent: Node | null;
  readonly children: Node[];
  readonly namedChildren: Node[];
  readonly childCount: number;
  readonly namedChildCount: number;
  readonly hasError: boolean;
  readonly isMissing: boolean;
  readonly isNamed: boolean;
  readonly previousSibling: Node | null;
  readonly nextSibling: Node | null;
  readonly previousNamedSibling: Node | null;
  readonly nextNamedSibling: Node | null;
  child(index: number): Node | null;
  namedChild(index: number): Node | null;
  childForFieldName(name: string): Node | null;
  childrenForFieldName(name: string): Node[];
  descendantsOfType(types: string | string[]): Node[];
  descendantForIndex(start: number, end?: number): Node;
}

export interface ParsedFile {
  /** Path as given to the engine (for messages). */
  readonly path: string;
  /** Source decoded as latin1: one char per byte. */
  readonly text: string;
  readonly root: Node;
}

let parser: Parser | undefined;

/**
 * The parser, made at the first parse: the native modules load then, not
 * when this module is imported, so that the CLI's main thread, which leaves
 * parsing to its worker threads, does not pay for them at start-up.
 */
function getParser(): Parser {
  if (!parser) {
    const require = createRequire(import.meta.url);
    const TreeSitter = require('tree-sitter') as typeof Parser;
    parser = new TreeSitter();
    parser.setLanguage(require('tree-sitter-c') as Parser.Language);
  }
  return parser;
}

/** Parse a latin1-decoded C source. */
export function parse(path: string, text: string): ParsedFile {
  const tree = getParser().parse(text, undefined, {
    bufferSize: Math.max(64 * 1024, text.length * 2 + 1024),
  });
  return { path, text, root: tree.rootNode as unknown as Node };
}

/** The function_definition enclosing `node`, if any. */
export function enclosingFunction(node: Node): Node | null {
  for (let n: Node | null = node; n; n = n.parent) {
    if (n.type === 'function_definition') return n;
  }
  return null;
}

/** Name of a function_definition. */
export function functionName(fn: Node): string | null {
  let d: Node | null = fn.childForFieldName('declarator');
  while (d && d.type !== 'function_declarator') {
    d = d.childForFieldName('declarator');
  }
  const id = d?.childForFieldName('declarator');
  return id && id.type === 'identifier' ? id.text : null;
}

/**
 * The function definitions named `name` in `file`. Found from the name's
 * occurrences in the text, not by asking every top-level node for its name:
 * a 20 MB file has hundreds of thousands of them.
 */
export function functionsNamed(file: ParsedFile, name: string | null): Node[] {
  if (name === null) return file.root.namedChildren.filter((n) => n.type === 'function_definition' && functionName(n) === null);
  const out = new Map<number, Node>();
  const text = file.text;
  // A function's name is followed by its parameter list and precedes its body.
  for (const m of text.matchAll(new RegExp(`\\b${name.replace(/\W/g, '\\$&')}\\s*\\(`, 'g'))) {
    const top = topLevelAt(file, m.index!);
    if (!top || top.type !== 'function_definition' || out.has(top.startIndex)) continue;
    const body = text.indexOf('{', top.startIndex);
    if (body >= 0 && body < m.index!) continue;
    if (functionName(top) === name) out.set(top.startIndex, top);
  }
  return [...out.values()];
}

const CONDITIONAL = /^preproc_(if|ifdef|elif|elifdef|else)$/;

/**
 * The innermost preprocessor conditional branch (`#if`/`#ifdef` .. its
 * `#elif`/`#else`, or an `#elif`/`#else` .. the next) holding offset
 * `index`, or null outside any. Code in one branch is compiled or not
 * depending on the configuration, independently of the code around it.
 */
export function conditionalAt(file: ParsedFile, index: number): Node | null {
  for (let n: Node | null = file.root.descendantForIndex(index, index); n; n = n.parent) {
    if (CONDITIONAL.test(n.type)) {
      // The #if node spans its #else: a point in the #else branch belongs to that.
      const alt = n.childForFieldName('alternative');
      return alt && index >= alt.startIndex ? alt : n;
    }
  }
  return null;
}

/** True when the subtree holds no ERROR or MISSING node. */
export function isErrorFree(node: Node): boolean {
  return !node.hasError;
}

/** True when `node` lies inside an ERROR node. */
export function insideError(node: Node): boolean {
  for (let n = node.parent; n; n = n.parent) {
    if (n.type === 'ERROR') return true;
  }
  return false;
}

/**
 * Number of ERROR and MISSING nodes in a subtree. Iterative (a cursor walk
 * into the subtrees that hold an error): a deeply nested hostile file must
 * not overflow the stack.
 */
export function errorCount(node: Node): number {
  if (!node.hasError) return 0;
  let count = 0;
  walk(node, (n) => {
    if (!n.hasError) return false;
    if (n.type === 'ERROR' || n.isMissing) count++;
    return true;
  });
  return count;
}

/**
 * True when the subtree of `node` nests deeper than `limit` levels. A cursor
 * walk that stops as soon as it passes the limit. Asking a node for its
 * parent costs time proportional to its depth in the Node binding, so a
 * transform walking up from a node thousands of levels deep takes quadratic
 * time: the engine refuses such code before matching.
 */
export function nestsDeeper(node: Node, limit: number): boolean {
  const cursor = (node as unknown as Parser.SyntaxNode).walk();
  let depth = 0;
  for (;;) {
    if (cursor.gotoFirstChild()) {
      if (++depth > limit) return true;
      continue;
    }
    for (;;) {
      if (depth === 0) return false;
      if (cursor.gotoNextSibling()) break;
      cursor.gotoParent();
      depth--;
    }
  }
}

/** The child of the root (a top-level declaration, or an ERROR node) holding offset `index`, if any. */
export function topLevelAt(file: ParsedFile, index: number): Node | null {
  const cursor = (file.root as unknown as Parser.SyntaxNode).walk();
  // The binding returns the child's index (-1: none), not the boolean its types say.
  const moved = cursor.gotoFirstChildForIndex(index) as unknown;
  if (moved === false || moved === -1 || moved == null) return null;
  return cursor.currentNode as unknown as Node;
}

/**
 * Pre-order walk; return false from `visit` to skip a subtree. It moves a
 * tree cursor rather than asking each node for its children, which in the
 * Node binding costs a round trip per call and dominated run time.
 *
 * With `only`, `visit` sees only the nodes of those types, and the others are
 * passed through without being made into JavaScript objects (most of a
 * walk's cost): the cursor knows a node's type without that.
 */
export function walk(node: Node, visit: (n: Node) => boolean | void, only?: ReadonlySet<string> | ((type: string) => boolean)): void {
  const cursor = (node as unknown as Parser.SyntaxNode).walk();
  const wanted = only === undefined ? null : typeof only === 'function' ? only : (t: string) => only.has(t);
  let depth = 0;
  for (;;) {
    const descend = wanted !== null && !wanted(cursor.nodeType) ? true : visit(cursor.currentNode as unknown as Node) !== false;
    if (descend && cursor.gotoFirstChild()) {
      depth++;
      continue;
    }
    for (;;) {
      if (depth === 0) return;
      if (cursor.gotoNextSibling()) break;
      cursor.gotoParent();
      depth--;
    }
  }
}

/** Descendants of the given types (the node itself included), in document order. */
export function descendants(node: Node, types: string | string[]): Node[] {
  return node.descendantsOfType(types);
}
