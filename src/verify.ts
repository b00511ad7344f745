/**
 * Check a rewrite by re-parsing it: it must not add a syntax error to the
 * function, leave a use of a variable it removed, or change again when the
 * transform runs over its own output.
 */
import type { Node, ParsedFile } from './parse/index.js';
import { errorCount, functionName, functionsNamed, parse, topLevelAt } from './parse/index.js';
import { identUses } from './c/syntax.js';
import type { Transform } from './types.js';

/** The function holding offset `start` in `file`. */
export function functionAt(file: ParsedFile, start: number): Node | null {
  const n = topLevelAt(file, start);
  return n && n.type === 'function_definition' && n.startIndex <= start ? n : null;
}

/** Returns a reason when the rewrite must be dropped, or null when it holds. */
export function verifyRewrite(
  before: ParsedFile,
  afterText: string,
  fnStart: number,
  removed: string[],
  transform: Transform<any>,
): { reason: string | null; after: ParsedFile } {
  const after = parse(before.path, afterText);
  const oldFn = functionAt(before, fnStart);
  const name = oldFn ? functionName(oldFn) : null;
  const oldCount = oldFn ? errorCount(oldFn) : errorCount(before.root);
  const candidates = oldFn ? functionsNamed(after, name) : [after.root];
  const newFn = candidates.length === 1 ? candidates[0] : null;
  if (!newFn) return { reason: 'the rewritten function cannot be found again after the edit', after };
  if (errorCount(newFn) > oldCount) return { reason: 'the rewrite would introduce a syntax error', after };
  if (errorCount(after.root) > errorCount(before.root)) return { reason: 'the rewrite would introduce a syntax error', after };
  for (const v of removed) {
    const left = identUses(newFn, v);
    if (left.length) return { reason: `the rewrite would leave a use of the removed variable ${v}`, after };
  }
  const label = orphanedLabel(oldFn, newFn);
  if (label) return { reason: `the rewrite would leave label ${label} unused`, after };
  const target = danglingGoto(oldFn, newFn);
  if (target) return { reason: `the rewrite would leave goto ${target} without its label`, after };
  const orphan = orphanedStatics(before, after);
  if (orphan) return { reason: `the rewrite would leave the static function ${orphan} unused`, after };
  const again = transform
    .match(after)
    .filter((m) => m.plan !== undefined && m.callStart >= newFn.startIndex && m.callStart < newFn.endIndex);
  if (again.length) return { reason: 'the rewrite is not idempotent: a second run would change it again', after };
  return { reason: null, after };
}

/**
 * Words that occur fewer times in the part of `after` that differs from
 * `before` than in the part of `before` it replaced: the only names whose
 * last use an edit can have removed. Cheap (a text comparison), so that the
 * tree is searched only when such a name is a static function.
 */
function wordsLost(before: string, after: string): Set<string> {
  const n = Math.min(before.length, after.length);
  let p = 0;
  while (p < n && before.charCodeAt(p) === after.charCodeAt(p)) p++;
  let q = 0;
  while (q < n - p && before.charCodeAt(before.length - 1 - q) === after.charCodeAt(after.length - 1 - q)) q++;
  // Widen to whole words.
  const word = /\w/;
  while (p > 0 && word.test(before[p - 1]!)) p--;
  while (q > 0 && word.test(before[before.length - q]!)) q--;
  const count = (s: string) => {
    const m = new Map<string, number>();
    for (const w of s.match(/[A-Za-z_]\w*/g) ?? []) m.set(w, (m.get(w) ?? 0) + 1);
    return m;
  };
  const a = count(before.slice(p, before.length - q));
  const b = count(after.slice(p, after.length - q));
  return new Set([...a].filter(([w, k]) => (b.get(w) ?? 0) < k).map(([w]) => w));
}

/** A static function called before the rewrite and no longer after it. */
function orphanedStatics(before: ParsedFile, after: ParsedFile): string | null {
  const lost = wordsLost(before.text, after.text);
  if (lost.size === 0) return null;
  const statics = new Set(
    [...lost].filter((w) =>
      functionsNamed(before, w).some((n) => /^static\b/.test(before.text.slice(n.startIndex, n.startIndex + 7))),
    ),
  );
  if (statics.size === 0) return null;
  const uses = (f: ParsedFile) => {
    const m = new Map<string, number>();
    for (const u of f.root.descendantsOfType('identifier')) {
      const t = u.text;
      if (!statics.has(t) || u.parent?.type === 'function_declarator') continue;
      m.set(t, (m.get(t) ?? 0) + 1);
    }
    return m;
  };
  const a = uses(before);
  const b = uses(after);
  for (const name of statics) {
    if ((a.get(name) ?? 0) > 0 && (b.get(name) ?? 0) === 0) return name;
  }
  return null;
}

/** The labels defined in a function. */
function labelsIn(fn: Node): Set<string> {
  return new Set(
    fn
      .descendantsOfType('statement_identifier')
      .filter((l) => l.parent?.type === 'labeled_statement')
      .map((l) => l.text),
  );
}

/** A goto whose label the function defined before the rewrite and no longer does. */
function danglingGoto(oldFn: Node | null, newFn: Node): string | null {
  if (!oldFn) return null;
  const after = labelsIn(newFn);
  const gone = [...labelsIn(oldFn)].filter((l) => !after.has(l));
  if (!gone.length) return null;
  // Searched in the text, not only among goto statements: a goto the parser
  // could not read (a macro it does not know on the same line) is an ERROR
  // node, and still a jump for the compiler.
  const code = newFn.text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
  return gone.find((l) => new RegExp(`\\bgoto\\s+${l}\\b`).test(code)) ?? null;
}

/** A label some goto used before the rewrite and none after it. */
function orphanedLabel(oldFn: Node | null, newFn: Node): string | null {
  if (!oldFn) return null;
  const gotos = (fn: Node) => new Set(fn.descendantsOfType('goto_statement').map((g) => g.childForFieldName('label')?.text));
  const before = gotos(oldFn);
  const after = gotos(newFn);
  for (const l of newFn.descendantsOfType('statement_identifier')) {
    if (l.parent?.type !== 'labeled_statement') continue;
    if (before.has(l.text) && !after.has(l.text)) return l.text;
  }
  return null;
}
