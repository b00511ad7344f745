/**
 * The prefilter says exactly what `bytes.includes(trigger)` says, and the
 * scanner finds a trigger wherever it sits in a file larger than its read
 * buffer (those are prefiltered as they stream through it).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GUP_TRIGGERS } from '../transforms/gup-api.js';
import { Prefilter } from '../src/prefilter.js';
import { Scanner } from '../src/scan.js';
import { fixtureCases } from './helpers.js';
import { parse } from '../src/parse/index.js';
import { findGupCalls, mayCallGup } from '../transforms/common.js';

const naive = (ts: readonly string[], b: Buffer) => ts.some((t) => b.includes(Buffer.from(t, 'latin1')));

describe('Prefilter', () => {
  const sets: string[][] = [
    [...GUP_TRIGGERS],
    ['get_user_pages', 'pin_user_pages', 'pin_user_pages_fast'],
    ['abc', 'xyz'],
    ['foo_bar_baz'],
    ['aaaaaaaaaa'],
    ['x'],
  ];
  // Texts near the triggers: prefixes, suffixes, near misses, overlaps.
  const pieces = ['get_user_page', 'et_user_pages', 'user_pages', 'pin_', 'get_', '_user_pa', 'ges', 'pin_user_pages',
    'get_user_pages', 'abc', 'xy', 'z', 'foo_bar_ba', 'z', 'aaaaa', 'x', '\n', ' ', '_', 'u'];
  let seed = 1;
  const rand = (n: number) => {
    // xorshift32
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  for (const ts of sets) {
    it(`agrees with includes() for ${JSON.stringify(ts)}`, () => {
      const pf = new Prefilter(ts);
      expect(pf.longest).toBe(Math.max(...ts.map((t) => t.length)));
      let hits = 0;
      for (let i = 0; i < 3000; i++) {
        const parts: string[] = [];
        const n = rand(8);
        for (let k = 0; k < n; k++) parts.push(pieces[rand(pieces.length)]!);
        const b = Buffer.from(parts.join(''), 'latin1');
        const want = naive(ts, b);
        if (want) hits++;
        expect(pf.matches(b), JSON.stringify(parts.join(''))).toBe(want);
      }
      expect(hits).toBeGreaterThan(0);
    });
  }
  it('matches a trigger at the very start and end, and nothing in an empty buffer', () => {
    const pf = new Prefilter(GUP_TRIGGERS);
    expect(pf.matches(Buffer.from('get_user_pages'))).toBe(true);
    expect(pf.matches(Buffer.from('x = pin_user_pages'))).toBe(true);
    expect(pf.matches(Buffer.from('et_user_pages'))).toBe(false);
    expect(pf.matches(Buffer.alloc(0))).toBe(false);
  });
});

describe('Scanner on files larger than its read buffer', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gupmod-scan-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  // A 4 KiB read buffer stands for the 1 MiB one.
  const MB = 4096;
  const filler = (n: number) => Buffer.alloc(n, '/* filler */\n');
  const trigger = 'pin_user_pages';
  // Offsets that put the trigger before, across and after each read.
  const cases = [0, MB - 20, MB - 7, MB - 1, MB, MB + 5, 2 * MB - 14, 2 * MB - 13, 2 * MB - 3, 3 * MB + 100];
  for (const at of cases) {
    it(`finds a trigger at byte ${at}`, () => {
      const file = path.join(dir, `t${at}.h`);
      const body = Buffer.concat([filler(at), Buffer.from(trigger), filler(3 * MB + 500 - at)]);
      fs.writeFileSync(file, body);
      const s = new Scanner({ cwd: dir, transforms: [], triggers: [...GUP_TRIGGERS], scratchBytes: MB });
      const r = s.scan([{ id: 0, abs: file }]);
      expect(r.candidates).toBe(1);
    });
  }
  it('reads a large candidate whole: a rewrite at its end sees every byte', () => {
    const fixture = fixtureCases('retry-loop').find((c) => c.expected !== null && c.expected !== c.input)!;
    const pad = filler(3 * MB + 123).toString('latin1');
    const file = path.join(dir, 'big.c');
    fs.writeFileSync(file, Buffer.from(pad + fixture.input, 'latin1'));
    const r = new Scanner({ cwd: dir, transforms: ['retry-loop'], triggers: [...GUP_TRIGGERS], scratchBytes: MB }).scan([{ id: 0, abs: file }]);
    expect(r.items[0]!.before).toBe(pad + fixture.input);
    expect(r.items[0]!.result!.output).toBe(pad + fixture.expected);
  });

  it('passes over a large file without a trigger, and parses it whole without the prefilter', () => {
    const file = path.join(dir, 'none.h');
    fs.writeFileSync(file, filler(2 * MB + 77));
    expect(new Scanner({ cwd: dir, transforms: [], triggers: [...GUP_TRIGGERS], scratchBytes: MB }).scan([{ id: 0, abs: file }]).candidates).toBe(0);
    const r = new Scanner({ cwd: dir, transforms: [], triggers: null, scratchBytes: MB }).scan([{ id: 0, abs: file }]);
    expect(r.candidates).toBe(1);
    expect(r.items[0]!.problem).toBeUndefined();
  });
});

describe('mayCallGup: the text check that spares parsing files without a GUP call', () => {
  const callsIn = (text: string) => findGupCalls(parse('x.c', text)).length;
  const body = (s: string) => `static int f(unsigned long a, struct page **p)\n{\n\tlong ret;\n\n${s}\n\treturn 0;\n}\n`;
  const cases: Array<[string, string, boolean]> = [
    ['a call', body('\tret = pin_user_pages_fast(a, 1, FOLL_WRITE, p);'), true],
    ['a comment across lines between the name and its arguments', body('\tret = get_user_pages /* x\n */ (a, 1, 0, p, NULL);'), true],
    ['a line comment between the name and its arguments', body('\tret = get_user_pages // x\n\t\t(a, 1, 0, p, NULL);'), true],
    ['a line continuation before the arguments', body('\tret = get_user_pages \\\n\t\t(a, 1, 0, p, NULL);'), true],
    ['a call after a string holding a quote and a comment opener', body('\tpr_info("\'/*\\"");\n\tret = get_user_pages(a, 1, 0, p, NULL);'), true],
    ['a call after a character constant holding a double quote', body('\tchar c = \'"\';\n\tret = get_user_pages(a, 1, 0, p, NULL);'), true],
    ['a name only in a block comment', body('\t/* see get_user_pages() */'), false],
    ['a name only in a line comment', body('\t// like pin_user_pages(), but\n'), false],
    ['a name only in a string', body('\tpr_err("get_user_pages(%d) failed\\n", 1);'), false],
    ['a string continued on the next line', body('\tpr_err("x \\\nget_user_pages(");'), false],
    ['a name that is not a GUP function', body('\tret = get_user_pages_unknown_thing(a);'), false],
    ['a name without a call', body('\tvoid *fp = get_user_pages;'), false],
    ['an unterminated comment (no comment to the parser either)', body('\t/* get_user_pages(a, 1, 0, p, NULL);'), true],
  ];
  for (const [what, text, expected] of cases) {
    it(`${what}: ${expected ? 'maybe a call' : 'no call'}, as the parser sees it`, () => {
      expect(mayCallGup(text)).toBe(expected);
      // Never no where the parser finds a call.
      if (!expected) expect(callsIn(text)).toBe(0);
      else if (!/unknown/.test(what)) expect(callsIn(text)).toBeGreaterThan(0);
    });
  }

  it('says maybe for every fixture that holds a GUP call', () => {
    let seen = 0;
    for (const id of ['retry-loop', 'count-check']) {
      for (const c of fixtureCases(id)) {
        if (callsIn(c.input) === 0) continue;
        seen++;
        expect(mayCallGup(c.input), `${id}/${c.name}`).toBe(true);
      }
    }
    expect(seen).toBeGreaterThan(60);
  });
});

describe('mayCallGup on hostile text', () => {
  it('many comment openers and no closer, then a call: still a call (the parser reads on as code)', () => {
    const text = '/*'.repeat(1 << 20) + '\nint f(void) { return get_user_pages(1, 1, 0, 0, 0); }\n';
    expect(mayCallGup(text)).toBe(true);
  });
  it('many lone quotes and names without a call', () => {
    expect(mayCallGup(`int x = '${'"'.repeat(1 << 20)}\n${'get_user_pages '.repeat(1 << 16)};\n`)).toBe(false);
  });
});
