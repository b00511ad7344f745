/**
 * Every fixture and every expected output compiles against the kernel
 * stand-in header (fixtures/include/kernel.h), with warnings as errors, so
 * that a rewrite leaving an unused variable or a type error is caught.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { TRANSFORMS } from '../transforms/index.js';
import { INCLUDE, fixtureCases } from './helpers.js';

function gccSyntax(file: string): { ok: boolean; out: string } {
  const r = spawnSync('gcc', ['-std=gnu11', '-Wall', '-Werror', '-fsyntax-only', '-I', INCLUDE, file], { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

for (const t of TRANSFORMS) {
  describe(`gcc -fsyntax-only fixtures/${t.meta.id}`, () => {
    for (const c of fixtureCases(t.meta.id)) {
      it(c.name, () => {
        const a = gccSyntax(c.inputPath);
        expect(a.out).toBe('');
        expect(a.ok).toBe(true);
        if (c.expectedPath) {
          const b = gccSyntax(c.expectedPath);
          expect(b.out).toBe('');
          expect(b.ok).toBe(true);
        }
      });
    }
  });
}
