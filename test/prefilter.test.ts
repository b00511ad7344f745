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
