/**
 * Fuzz: mutate the fixtures of fixtures/retry-loop and fixtures/count-check
 * (delete, duplicate and swap tokens and lines; put one identifier for
 * another; insert a macro call, a comment or an `#ifdef` line inside the
 * function holding the GUP call) and
 * check what gupmod does with each mutant:
 *
 * - `processText` never throws and reports no error;
 * - every rewrite it still makes re-parses with no more ERROR/MISSING nodes
 *   than the mutant had, and a second run over it changes nothing;
 * - where the mutant compiles (`gcc -std=gnu11 -fsyntax-only -Wall` against
 *   fixtures/include, with gcc 14's default errors), the rewrite compiles
 *   too, with no more warnings of a kind than the mutant had. gcc runs only for mutants that were rewritten, results are
 *   cached, and at most MAX_COMPILES runs are made.
 *
 * Seeded and bounded by an iteration count, so a run is reproducible:
 * GUPMOD_FUZZ_SEED and GUPMOD_FUZZ_ITERATIONS change them (a longer hunt:
 * `GUPMOD_FUZZ_ITERATIONS=20000 GUPMOD_FUZZ_COMPILES=2000 npx vitest run
 * test/fuzz.test.ts`). A failure names the seed, the iteration, the fixture
 * and the mutations, and leaves the mutant in a temporary file.
 *
 * Bugs found this way get a minimal reproducer in test/robust.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { processText } from '../src/engine.js';
import { findGupCalls, mayCallGup } from '../transforms/common.js';
import { errorCount, parse, topLevelAt } from '../src/parse/index.js';
import { TRANSFORMS } from '../transforms/index.js';
import { GUP_TRIGGERS } from '../transforms/gup-api.js';
import { INCLUDE, fixtureCases } from './helpers.js';

const SEED = Number(process.env.GUPMOD_FUZZ_SEED ?? 0x5eed);
const ITERATIONS = Number(process.env.GUPMOD_FUZZ_ITERATIONS ?? 2500);
const MAX_COMPILES = Number(process.env.GUPMOD_FUZZ_COMPILES ?? 150);

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** C tokens, whitespace included, so that joining them gives the text back. */
const TOKEN =
  /\/\*[\s\S]*?\*\/|\/\/[^\n]*|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|[A-Za-z_]\w*|\d[\w.]*|->|\+\+|--|<<=?|>>=?|[<>!=]=|&&|\|\||[-+*/%&|^]=|#\s*\w+|\s+|[\s\S]/g;

interface Token {
  text: string;
  start: number;
}

function tokens(text: string): Token[] {
  return [...text.matchAll(TOKEN)].map((m) => ({ text: m[0], start: m.index! }));
}

const TRIGGER = new RegExp(GUP_TRIGGERS.join('|'), 'g');

/** [start, end) of each top-level declaration holding a GUP name: where mutations go. */
function spansOf(text: string): Array<[number, number]> {
  const file = parse('span.c', text);
  const out = new Map<number, [number, number]>();
  for (const m of text.matchAll(TRIGGER)) {
    const top = topLevelAt(file, m.index!);
    if (top && top.type === 'function_definition') out.set(top.startIndex, [top.startIndex, top.endIndex]);
  }
  return [...out.values()];
}

interface Mutant {
  text: string;
  ops: string[];
}

const MACROS = ['FOO(x)', 'FOO(ret)', 'might_sleep()', 'BAR', 'WARN_ON(pinned)', 'DEBUG(npages, ret)'];
/** Definitions of the macros, put after the fixture's includes, so that gcc knows them and the parser does not. */
const MACRO_DEFS =
  '#define FOO(x) ((void)(x))\n#define BAR\n#define DEBUG(a, b) ((void)(a), (void)(b))\n#define might_sleep() do { } while (0)\n';

function withMacros(text: string): string {
  const inc = text.indexOf('#include "kernel.h"\n');
  if (inc < 0) return text;
  const at = inc + '#include "kernel.h"\n'.length;
  return text.slice(0, at) + MACRO_DEFS + text.slice(at);
}
const COMMENTS = ['/* fuzz */', '/* keep */', '// fuzz\n'];
const DIRECTIVES = ['#ifdef CONFIG_FUZZ\n', '#ifndef CONFIG_FUZZ\n', '#if 0\n', '#else\n', '#endif\n'];

/** One mutation of `text`, mostly inside `span`. */
function mutate(text: string, span: [number, number], rnd: () => number): { text: string; op: string } {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const inside = rnd() < 0.85;
  const [lo, hi] = inside ? span : [0, text.length];
  const toks = tokens(text).filter((t) => t.start >= lo && t.start < hi);
  const solid = toks.filter((t) => !/^\s/.test(t.text));
  const lineStarts: number[] = [];
  for (let i = lo; i < hi; i = text.indexOf('\n', i) + 1) {
    lineStarts.push(i);
    if (text.indexOf('\n', i) < 0) break;
  }
  const lineAt = (s: number) => {
    const nl = text.indexOf('\n', s);
    return nl < 0 ? text.length : nl + 1;
  };
  const kind = Math.floor(rnd() * 10);
  const where = (t: Token) => `@${t.start}`;
  switch (kind) {
    case 0: {
      const t = pick(solid);
      return { text: text.slice(0, t.start) + text.slice(t.start + t.text.length), op: `delete token '${t.text}' ${where(t)}` };
    }
    case 1: {
      const t = pick(solid);
      return { text: text.slice(0, t.start) + t.text + ' ' + text.slice(t.start), op: `duplicate token '${t.text}' ${where(t)}` };
    }
    case 2: {
      // Swap two tokens: neighbours, or any two of the span.
      const i = Math.floor(rnd() * solid.length);
      const j = rnd() < 0.6 ? Math.min(solid.length - 1, i + 1) : Math.floor(rnd() * solid.length);
      const [a, b] = [solid[Math.min(i, j)]!, solid[Math.max(i, j)]!];
      if (a === b) return { text, op: 'swap nothing' };
      const s =
        text.slice(0, a.start) + b.text + text.slice(a.start + a.text.length, b.start) + a.text + text.slice(b.start + b.text.length);
      return { text: s, op: `swap tokens '${a.text}' ${where(a)} and '${b.text}' ${where(b)}` };
    }
    case 3: {
      const s = pick(lineStarts);
      const e = lineAt(s);
      return { text: text.slice(0, s) + text.slice(e), op: `delete line ${JSON.stringify(text.slice(s, e))}` };
    }
    case 4: {
      const s = pick(lineStarts);
      const e = lineAt(s);
      return { text: text.slice(0, e) + text.slice(s, e) + text.slice(e), op: `duplicate line ${JSON.stringify(text.slice(s, e))}` };
    }
    case 5: {
      const i = Math.floor(rnd() * lineStarts.length);
      const j = rnd() < 0.6 ? Math.min(lineStarts.length - 1, i + 1) : Math.floor(rnd() * lineStarts.length);
      const [a, b] = [lineStarts[Math.min(i, j)]!, lineStarts[Math.max(i, j)]!];
      if (a === b) return { text, op: 'swap nothing' };
      const ae = lineAt(a);
      const be = lineAt(b);
      const la = text.slice(a, ae);
      const lb = text.slice(b, be);
      if (!la.endsWith('\n') || !lb.endsWith('\n')) return { text, op: 'swap nothing' };
      return { text: text.slice(0, a) + lb + text.slice(ae, b) + la + text.slice(be), op: `swap lines ${JSON.stringify(la)} and ${JSON.stringify(lb)}` };
    }
    case 6: {
      // A macro: inside a line, or as a statement line of its own.
      const m = pick(MACROS);
      if (rnd() < 0.5) {
        const t = pick(toks);
        return { text: text.slice(0, t.start) + ` ${m} ` + text.slice(t.start), op: `insert '${m}' ${where(t)}` };
      }
      const s = pick(lineStarts);
      const line = `\t${m}${rnd() < 0.7 ? ';' : ''}\n`;
      return { text: text.slice(0, s) + line + text.slice(s), op: `insert line ${JSON.stringify(line)} @${s}` };
    }
    case 7: {
      const c = pick(COMMENTS);
      const t = pick(toks);
      return { text: text.slice(0, t.start) + c + text.slice(t.start), op: `insert comment ${JSON.stringify(c)} ${where(t)}` };
    }
    case 8: {
      // One identifier for another of the span (`pinned` for `npages`, `pvec` for `pages`).
      const ids = solid.filter((t) => /^[A-Za-z_]\w*$/.test(t.text));
      const t = pick(ids);
      const by = pick(ids).text;
      return { text: text.slice(0, t.start) + by + text.slice(t.start + t.text.length), op: `replace '${t.text}' ${where(t)} by '${by}'` };
    }
    default: {
      // An #ifdef line; half the time closed by an #endif further down.
      const i = Math.floor(rnd() * lineStarts.length);
      const d = pick(DIRECTIVES);
      let s = text.slice(0, lineStarts[i]) + d + text.slice(lineStarts[i]);
      let op = `insert ${JSON.stringify(d)} @${lineStarts[i]}`;
      if (d.startsWith('#if') && rnd() < 0.5) {
        const j = i + Math.floor(rnd() * (lineStarts.length - i));
        const at = (lineStarts[j] ?? text.length) + d.length;
        s = s.slice(0, at) + '#endif\n' + s.slice(at);
        op += ` and "#endif\\n" @${at}`;
      }
      return { text: s, op };
    }
  }
}

interface Compiled {
  ok: boolean;
  warnings: string[];
  out: string;
}

/**
 * What gcc 14 rejects by default and gcc 12 only warns about: a mutant that
 * passes a pointer as the flags (`xfer` for `FOLL_FORCE`) does not compile
 * there, and its rewrite `xfer | FOLL_COMPLETE` is no new error.
 */
const GCC14_ERRORS = ['-Werror=implicit-function-declaration', '-Werror=implicit-int', '-Werror=int-conversion', '-Werror=incompatible-pointer-types'];

const gccCache = new Map<string, Compiled>();
let compiles = 0;

/** gcc -fsyntax-only over `text` (cached); null once the budget is spent. */
function gcc(text: string): Compiled | null {
  const key = createHash('sha1').update(text, 'latin1').digest('hex');
  const hit = gccCache.get(key);
  if (hit) return hit;
  if (compiles >= MAX_COMPILES) return null;
  compiles++;
  const r = spawnSync('gcc', ['-std=gnu11', '-fsyntax-only', '-Wall', ...GCC14_ERRORS, '-I', INCLUDE, '-x', 'c', '-'], {
    input: Buffer.from(text, 'latin1'),
    encoding: 'utf8',
    cwd: INCLUDE,
  });
  if (r.error) throw r.error;
  const out = `${r.stdout}${r.stderr}`;
  // "<stdin>:12:5: warning: unused variable 'x' [-Wunused-variable]": its kind, -Wunused-variable.
  const warnings = [...out.matchAll(/warning: (.*)$/gm)].map((m) => /\[(-W[\w=-]+)\]$/.exec(m[1]!)?.[1] ?? m[1]!).sort();
  const res = { ok: r.status === 0, warnings, out };
  gccCache.set(key, res);
  return res;
}

function keep(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gupmod-fuzz-'));
  const f = path.join(dir, 'mutant.c');
  fs.writeFileSync(f, text, 'latin1');
  return f;
}

interface Stats {
  iterations: number;
  rewrites: number;
  compiledPairs: number;
}

describe('fuzz: mutated fixtures', () => {
  it(`${ITERATIONS} seeded mutants (seed ${SEED}): no throw, no new ERROR node, compiles where the mutant did`, () => {
    const rnd = prng(SEED);
    const seeds = ['retry-loop', 'count-check'].flatMap((id) =>
      fixtureCases(id).map((c) => {
        const text = withMacros(c.input);
        return { name: `${id}/${c.name}.c`, text, spans: spansOf(text) };
      }),
    );
    expect(seeds.length).toBeGreaterThan(60);
    for (const s of seeds) expect(s.spans.length, s.name).toBeGreaterThan(0);
    const stats: Stats = { iterations: 0, rewrites: 0, compiledPairs: 0 };
    const failures: string[] = [];
    const fail = (what: string, ctx: string, text: string) => {
      if (failures.length < 10) failures.push(`${what}\n  ${ctx}\n  mutant: ${keep(text)}`);
    };
    for (let i = 0; i < ITERATIONS; i++) {
      const seed = seeds[Math.floor(rnd() * seeds.length)]!;
      let text = seed.text;
      const ops: string[] = [];
      const n = 1 + Math.floor(rnd() * 3);
      for (let k = 0; k < n; k++) {
        // Spans move as the text changes: recompute them from the mutant.
        const spans = k === 0 ? seed.spans : spansOf(text);
        const span = spans.length ? spans[Math.floor(rnd() * spans.length)]! : ([0, text.length] as [number, number]);
        const m = mutate(text, span, rnd);
        text = m.text;
        ops.push(m.op);
      }
      stats.iterations++;
      const ctx = `seed ${SEED}, iteration ${i}, ${seed.name}: ${ops.join('; ')}`;
      // All transforms, as the CLI runs them.
      let r;
      try {
        r = processText(seed.name, text, TRANSFORMS);
      } catch (e) {
        fail(`processText threw: ${(e as Error).stack}`, ctx, text);
        continue;
      }
      if (r.error) fail(`processText reported an error: ${r.error}`, ctx, text);
      // The text check that spares a parse must never hide a call the parser finds.
      if (!mayCallGup(text) && findGupCalls(parse('in.c', text)).length) fail('mayCallGup says no call, the parser finds one', ctx, text);
      if (r.output === undefined) continue;
      stats.rewrites++;
      const before = errorCount(parse('in.c', text).root);
      const after = errorCount(parse('out.c', r.output).root);
      if (after > before) fail(`the rewrite has ${after} ERROR/MISSING nodes, the mutant ${before}`, ctx, text);
      const again = processText(seed.name, r.output, TRANSFORMS);
      if (again.output !== undefined) fail('a second run over the rewrite changes it again', ctx, text);
      const cin = gcc(text);
      if (!cin || !cin.ok) continue;
      const cout = gcc(r.output);
      if (!cout) continue;
      stats.compiledPairs++;
      if (!cout.ok) fail(`the mutant compiles, its rewrite does not:\n${cout.out}`, ctx, text);
      // A mutant may be ill-typed already (a warning the rewrite then moves
      // to another line): a rewrite may not add a warning of a kind, but it
      // may keep the mutant's.
      const count = (ws: string[], w: string) => ws.filter((x) => x === w).length;
      const added = [...new Set(cout.warnings)].filter((w) => count(cout.warnings, w) > count(cin.warnings, w));
      if (added.length) fail(`the rewrite adds gcc warnings: ${added.join(', ')}:\n${cout.out}`, ctx, text);
    }
    console.log(
      `fuzz: seed ${SEED}, ${stats.iterations} iterations, ${stats.rewrites} rewrites checked, ` +
        `${stats.compiledPairs} compiled pairs, ${compiles} gcc runs`,
    );
    expect(failures, failures.join('\n\n')).toEqual([]);
    // The fuzzer must exercise the rewrite path and the compiler, not only refusals.
    expect(stats.rewrites).toBeGreaterThan(ITERATIONS / 10);
    expect(stats.compiledPairs).toBeGreaterThan(10);
    // The default run takes ~20 s; the bound grows for longer hunts.
  }, Math.max(120_000, ITERATIONS * 100));
});
