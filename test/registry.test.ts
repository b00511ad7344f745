/** Meta-tests: the registry, the folders, the fixtures and the README agree. */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TRANSFORMS } from '../transforms/index.js';
import { ROOT, fixtureCases } from './helpers.js';

const folders = readdirSync(path.join(ROOT, 'transforms')).filter((f) => statSync(path.join(ROOT, 'transforms', f)).isDirectory());

describe('transform registry', () => {
  it('registers every transforms/* folder, sorted by id, each id equal to its folder', () => {
    expect(TRANSFORMS.map((t) => t.meta.id)).toEqual([...folders].sort());
  });

  for (const t of TRANSFORMS) {
    it(`${t.meta.id}: has a summary fit for a subject, fixtures and a README section`, () => {
      expect(t.meta.summary.length).toBeLessThanOrEqual(60);
      expect(t.meta.summary).toMatch(/^[a-z]/);
      expect(t.meta.refuses.length).toBeGreaterThan(0);
      expect(fixtureCases(t.meta.id).length).toBeGreaterThan(0);
      const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
      expect(readme).toContain(`## What the ${t.meta.id} transform rewrites`);
    });
  }
});
