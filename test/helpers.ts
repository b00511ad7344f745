import { readdirSync, readFileSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const FIXTURES = path.join(ROOT, 'fixtures');
export const INCLUDE = path.join(FIXTURES, 'include');

export interface FixtureCase {
  transform: string;
  name: string;
  input: string;
  expected: string | null;
  inputPath: string;
  expectedPath: string | null;
}

/** Every `<case>.c` (with its `.expected.c`, if any) under fixtures/<transform>/. */
export function fixtureCases(transform: string): FixtureCase[] {
  const dir = path.join(FIXTURES, transform);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.c') && !f.endsWith('.expected.c'))
    .sort()
    .map((f) => {
      const name = f.slice(0, -2);
      const inputPath = path.join(dir, f);
      const expectedPath = path.join(dir, `${name}.expected.c`);
      const has = existsSync(expectedPath);
      return {
        transform,
        name,
        inputPath,
        input: readFileSync(inputPath, 'latin1'),
        expected: has ? readFileSync(expectedPath, 'latin1') : null,
        expectedPath: has ? expectedPath : null,
      };
    });
}

/** Expected files whose input is missing: a fixture pair must be complete. */
export function orphanExpected(transform: string): string[] {
  const dir = path.join(FIXTURES, transform);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.expected.c'))
    .filter((f) => !existsSync(path.join(dir, f.replace(/\.expected\.c$/, '.c'))));
}
