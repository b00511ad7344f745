/**
 * Fixture pairs: `<case>.c` must become `<case>.expected.c`, or stay
 * byte-identical when there is no expected file; each expected output must
 * be a fixed point (idempotence).
 */
import { describe, expect, it } from 'vitest';
import { processText } from '../src/engine.js';
import { TRANSFORMS } from '../transforms/index.js';
import { fixtureCases, orphanExpected } from './helpers.js';

for (const t of TRANSFORMS) {
  const cases = fixtureCases(t.meta.id);
  describe(`fixtures/${t.meta.id}`, () => {
    it('has at least 15 rewrite cases and 5 negatives', () => {
      expect(cases.filter((c) => c.expected !== null).length).toBeGreaterThanOrEqual(15);
      expect(cases.filter((c) => c.expected === null).length).toBeGreaterThanOrEqual(5);
    });

    it('has no expected file without its input', () => {
      expect(orphanExpected(t.meta.id)).toEqual([]);
    });

    for (const c of cases) {
      it(c.name, () => {
        const r = processText(`${c.name}.c`, c.input, [t]);
        expect(r.error).toBeUndefined();
        if (c.expected === null) {
          // Negative: nothing changes, and the site says why.
          expect(r.output, 'a change without an expected file').toBeUndefined();
          const mine = r.sites.filter((s) => s.transform === t.meta.id);
          for (const s of mine) expect(s.action).not.toBe('rewrite');
          return;
        }
        expect(c.expected, 'expected output equal to its input').not.toBe(c.input);
        expect(r.output ?? c.input).toBe(c.expected);
        const rewritten = r.sites.filter((s) => s.action === 'rewrite');
        expect(rewritten.length).toBeGreaterThan(0);
        for (const s of rewritten) expect(s.category).toBe(t.meta.id);
        // Idempotence: the expected output is a fixed point.
        const again = processText(`${c.name}.expected.c`, c.expected, [t]);
        expect(again.output).toBeUndefined();
      });
    }
  });
}
