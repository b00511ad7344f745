/**
 * Reports: a json snapshot of every fixture folder (so that a category or
 * action that changes shows in review), the text form, and SARIF that
 * validates against the published SARIF 2.1.0 schema.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import Ajv04 from 'ajv-draft-04';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { processText } from '../src/engine.js';
import { jsonReport, textReport } from '../src/output/report.js';
import { sarifReport } from '../src/output/sarif.js';
import type { Site } from '../src/types.js';
import { TRANSFORMS } from '../transforms/index.js';
import { FIXTURES, ROOT, fixtureCases } from './helpers.js';

function folderSites(id: string): Site[] {
  return fixtureCases(id).flatMap((c) => processText(`fixtures/${id}/${c.name}.c`, c.input, TRANSFORMS).sites);
}

describe('report snapshots (--report --all --format json)', () => {
  for (const t of TRANSFORMS) {
    it(`fixtures/${t.meta.id}/report.expected.json`, () => {
      const file = path.join(FIXTURES, t.meta.id, 'report.expected.json');
      const got = jsonReport(folderSites(t.meta.id));
      if (process.env.GUPMOD_UPDATE_SNAPSHOTS === '1') writeFileSync(file, got);
      expect(existsSync(file), `${file} is missing: run with GUPMOD_UPDATE_SNAPSHOTS=1 and review it`).toBe(true);
      expect(got).toBe(readFileSync(file, 'utf8'));
    });
  }
});

describe('text report', () => {
  it('has one coccicheck-style line per site, sorted by file and line', () => {
    const sites = TRANSFORMS.flatMap((t) => folderSites(t.meta.id));
    const lines = textReport(sites).trimEnd().split('\n');
    expect(lines.length).toBe(sites.length);
    for (const l of lines) expect(l).toMatch(/^[^:]+:\d+:\d+: (error|warning|note): \[[\w-]+\] /);
    const keys = lines.map((l) => /^([^:]+):(\d+):/.exec(l)!).map((m) => [m[1], Number(m[2])] as const);
    for (let i = 1; i < keys.length; i++) {
      const [fa, la] = keys[i - 1];
      const [fb, lb] = keys[i];
      expect(fa < fb || (fa === fb && la <= lb)).toBe(true);
    }
  });

  it('reports a leak as an error', () => {
    const sites = folderSites('count-check').filter((s) => s.bugs.includes('missing-unpin'));
    expect(sites.length).toBeGreaterThan(0);
    for (const l of textReport(sites).trimEnd().split('\n')) expect(l).toMatch(/: error: \[count-check\] .*missing-unpin/);
  });
});

describe('SARIF', () => {
  const require = createRequire(import.meta.url);
  const schema = JSON.parse(readFileSync(require.resolve('@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json'), 'utf8'));
  // The published schema is draft-04.
  const ajv = new Ajv04({ strict: false, allErrors: true, unicodeRegExp: false });
  addFormats.default(ajv);
  const validate = ajv.compile(schema);

  it('validates against the SARIF 2.1.0 schema, with rules from each transform meta', () => {
    const sites = TRANSFORMS.flatMap((t) => folderSites(t.meta.id));
    const log = JSON.parse(sarifReport(sites, TRANSFORMS.map((t) => t.meta), { root: ROOT, version: '0.0.0' }));
    const ok = validate(log);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
    const run = log.runs[0];
    expect(run.tool.driver.rules.map((r: { id: string }) => r.id)).toEqual([...TRANSFORMS.map((t) => t.meta.id), 'gup']);
    expect(run.results.length).toBe(sites.length);
    for (const r of run.results) {
      expect(run.tool.driver.rules[r.ruleIndex].id).toBe(r.ruleId);
      expect(r.locations[0].physicalLocation.region.startLine).toBeGreaterThan(0);
    }
    const leak = run.results.find((r: { properties: { bugs: string[] } }) => r.properties.bugs.includes('missing-unpin'));
    expect(leak.level).toBe('error');
  });

  it('rejects a log the schema does not allow (the validator is live)', () => {
    expect(validate({ version: '2.1.0', runs: [{ tool: {} }] })).toBe(false);
  });
});
