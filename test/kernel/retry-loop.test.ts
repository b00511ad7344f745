/**
 * The retry-loop rewrite on the real Linux 6.1 tree: every retry loop is
 * rewritten or reported with a reason, the diff applies, passes checkpatch,
 * re-parses cleanly and is a fixed point.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { errorCount, parse } from '../../src/parse/index.js';
import { ROOT } from '../helpers.js';
import { requireKernelTree } from './tree.js';

const BIN = path.join(ROOT, 'bin', 'gupmod.js');

function gupmod(args: string[], cwd: string) {
  return spawnSync(process.execPath, [BIN, '-q', ...args], { cwd, encoding: 'latin1', maxBuffer: 256 << 20 });
}

/** The retry loops of Linux 6.1 (found by grepping every GUP call inside a loop) and what becomes of each. */
const RETRY_LOOPS: Record<string, { action: 'rewrite' | 'review' | 'leave'; reason: RegExp }> = {
  'drivers/gpu/drm/etnaviv/etnaviv_gem.c': { action: 'rewrite', reason: /accumulates pinned \+= ret until npages/ },
  'drivers/gpu/drm/radeon/radeon_ttm.c': { action: 'rewrite', reason: /release at release_pages now covers ttm->num_pages/ },
  'drivers/infiniband/hw/qib/qib_user_pages.c': { action: 'rewrite', reason: /label bail_release and its release went/ },
  'drivers/gpu/drm/i915/gem/i915_gem_userptr.c': { action: 'review', reason: /label out releases the pinned pages inside `if \(pvec\) \{`/ },
  'drivers/infiniband/sw/siw/siw_mem.c': { action: 'leave', reason: /umem->num_pages, not a local variable/ },
  'drivers/xen/privcmd.c': { action: 'leave', reason: /\*pinned, not a local variable/ },
};

describe('retry-loop on Linux 6.1', () => {
  let tree: string;
  let diff: string;
  let sites: Array<{ file: string; category: string; action: string; reason: string; transform: string }>;

  beforeAll(() => {
    tree = requireKernelTree();
    const r = gupmod(['-t', 'retry-loop', '.'], tree);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    diff = r.stdout;
    const rep = gupmod(['-t', 'retry-loop', '--report', '--all', '--format', 'json', '.'], tree);
    expect(rep.status).toBe(0);
    sites = JSON.parse(rep.stdout);
  }, 120_000);

  it('classifies each retry loop of the tree as expected', () => {
    const loops = sites.filter((s) => s.category === 'retry-loop');
    expect(Object.fromEntries(loops.map((s) => [s.file, s.action]))).toEqual(
      Object.fromEntries(Object.entries(RETRY_LOOPS).map(([f, v]) => [f, v.action])),
    );
    for (const s of loops) expect(s.reason).toMatch(RETRY_LOOPS[s.file].reason);
  });

  it('rewrites exactly the retry loops it can prove, and nothing else', () => {
    const files = [...diff.matchAll(/^diff --git a\/(\S+) b\//gm)].map((m) => m[1]);
    const expected = Object.entries(RETRY_LOOPS)
      .filter(([, v]) => v.action === 'rewrite')
      .map(([f]) => f)
      .sort();
    expect(files).toEqual(expected);
    expect(diff).toMatch(/\+\tret = pin_user_pages_fast\(userptr->ptr, npages,/);
    expect(diff).not.toMatch(/^-.*\bFOLL_COMPLETE\b/m);
  });

  it('applies with git apply --check and patch -p1', () => {
    const a = spawnSync('git', ['apply', '--check', '-'], { cwd: tree, input: diff, encoding: 'latin1' });
    expect(a.stderr).toBe('');
    expect(a.status).toBe(0);
    const p = spawnSync('patch', ['-p1', '--dry-run', '-s'], { cwd: tree, input: diff, encoding: 'latin1' });
    expect(p.status).toBe(0);
  });

  it('passes scripts/checkpatch.pl --strict with no error, warning or check', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gupmod-cp-'));
    const file = path.join(dir, 'retry-loop.diff');
    writeFileSync(file, diff, 'latin1');
    const c = spawnSync('perl', ['scripts/checkpatch.pl', '--strict', '--no-signoff', file], { cwd: tree, encoding: 'latin1' });
    expect(c.stdout).toMatch(/total: 0 errors, 0 warnings, 0 checks/);
    expect(c.status).toBe(0);
  });

  it('re-parses every rewritten file without a new ERROR node, and a second run changes nothing', () => {
    const mirror = mkdtempSync(path.join(tmpdir(), 'gupmod-rl-'));
    // Apply the diff to copies of the touched files only.
    const files = [...diff.matchAll(/^diff --git a\/(\S+) b\//gm)].map((m) => m[1]);
    for (const f of files) {
      mkdirSync(path.dirname(path.join(mirror, f)), { recursive: true });
      cpSync(path.join(tree, f), path.join(mirror, f));
    }
    const p = spawnSync('patch', ['-p1', '-s'], { cwd: mirror, input: diff, encoding: 'latin1' });
    expect(p.status).toBe(0);
    for (const f of files) {
      const before = parse(f, readFileSync(path.join(tree, f), 'latin1'));
      const after = parse(f, readFileSync(path.join(mirror, f), 'latin1'));
      expect(errorCount(after.root)).toBeLessThanOrEqual(errorCount(before.root));
    }
    const again = gupmod(['-t', 'retry-loop', '.'], mirror);
    expect(again.status).toBe(0);
    expect(again.stdout).toBe('');
  });
});
