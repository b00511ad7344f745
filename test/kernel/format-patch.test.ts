/**
 * `gupmod format-patch` on the real Linux 6.1 tree. The tree is not a git
 * repository and a full copy costs ~1.5 GB, so the test copies what the
 * series needs (the files gupmod rewrites or reports for review,
 * MAINTAINERS, .mailmap and scripts/get_maintainer.pl) into a temporary git
 * repository, writes the series there, applies it with `git am` on a fresh
 * branch, and runs the real tree's scripts/checkpatch.pl --strict on every
 * patch.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, type ChangedFile } from '../../src/index.js';
import { parseGetMaintainerOutput, readMaintainers, recipientsFor } from '../../src/maintainers.js';
import { buildSeries } from '../../src/output/format-patch.js';
import { ROOT } from '../helpers.js';
import { requireKernelTree } from './tree.js';

const BIN = path.join(ROOT, 'bin', 'gupmod.js');
const DATE = '2024-05-06T07:08:09Z';
const ENV = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', LC_ALL: 'C' };

function sh(cmd: string, args: string[], cwd: string, opts: SpawnSyncOptions = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'latin1', maxBuffer: 256 << 20, env: ENV, ...opts });
  return { status: r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

function git(cwd: string, ...args: string[]): string {
  const r = sh('git', args, cwd);
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function patches(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d{4}-.*\.patch$/.test(f) && !f.startsWith('0000-'))
    .sort()
    .map((f) => path.join(dir, f));
}

/** Addresses of a header (`To`/`Cc`) of a mail, one a line as git writes them. */
function header(mail: string, name: 'To' | 'Cc'): string[] {
  const lines = mail.slice(0, mail.indexOf('\n\n')).split('\n');
  const i = lines.findIndex((l) => l.startsWith(`${name}: `));
  if (i < 0) return [];
  const out = [lines[i].slice(name.length + 2)];
  for (let j = i + 1; j < lines.length && lines[j].startsWith('    '); j++) out.push(lines[j].slice(4));
  return out.map((a) => a.replace(/,$/, ''));
}

/** The real tree's checkpatch; with `gitDir`, it looks commit ids up there (as in a kernel git tree). */
function checkpatch(tree: string, file: string, gitDir?: string) {
  return sh('perl', ['scripts/checkpatch.pl', '--strict', file], tree, gitDir ? { env: { ...ENV, GIT_DIR: gitDir } } : {});
}

/** The three retry loops gupmod rewrites in 6.1, and what their patches must say. */
const RETRY_LOOP_PATCHES = [
  {
    subject: 'drm/etnaviv: replace the GUP retry loop with FOLL_COMPLETE',
    to: 'Lucas Stach <l.stach@pengutronix.de>',
    cc: ['etnaviv@lists.freedesktop.org', 'dri-devel@lists.freedesktop.org'],
    says: /etnaviv_gem_userptr_get_pages\(\) calls pin_user_pages_fast\(\) in a loop that accumulates pinned \+= ret until npages/,
  },
  {
    subject: 'drm/radeon: replace the GUP retry loop with FOLL_COMPLETE',
    to: 'Alex Deucher <alexander.deucher@amd.com>',
    cc: ['amd-gfx@lists.freedesktop.org'],
    says: /release at release_pages now covers ttm->num_pages pages/,
  },
  {
    subject: 'RDMA/qib: replace the GUP retry loop with FOLL_COMPLETE',
    to: 'Dennis Dalessandro <dennis.dalessandro@cornelisnetworks.com>',
    cc: ['linux-rdma@vger.kernel.org'],
    says: /label bail_release and its release went with the partial pin/,
  },
];

describe('gupmod format-patch on Linux 6.1', () => {
  let tree: string;
  let tmp: string;
  let repo: string;
  let base: string;
  /** gupmod's rewrites of the whole real tree. */
  let changed: ChangedFile[];
  let all: string;
  let rl: string;

  beforeAll(async () => {
    tree = requireKernelTree();
    const result = await run({ paths: ['.'], cwd: tree });
    expect(result.problems).toEqual([]);
    changed = result.changed;
    expect(changed.length).toBeGreaterThanOrEqual(3);
    // The files the series touches, and those with a site left for review (the cover letter lists them).
    const touched = [...new Set([...changed.map((c) => c.path), ...result.sites.filter((s) => s.action === 'review').map((s) => s.file)])];

    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gupmod-fp61-'));
    repo = path.join(tmp, 'linux');
    for (const f of [...touched, 'MAINTAINERS', '.mailmap', 'scripts/get_maintainer.pl']) {
      fs.mkdirSync(path.dirname(path.join(repo, f)), { recursive: true });
      fs.copyFileSync(path.join(tree, f), path.join(repo, f));
    }
    git(repo, 'init', '-q', '-b', 'master');
    git(repo, 'config', 'user.name', 'Ada Quill');
    git(repo, 'config', 'user.email', 'ada.quill@example.org');
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'Import the files gupmod rewrites from Linux 6.1');
    base = git(repo, 'rev-parse', 'HEAD').trim();

    all = path.join(tmp, 'out');
    const a = sh(process.execPath, [BIN, '-q', 'format-patch', '--cover-letter', '--date', DATE, '-o', all, '.'], repo);
    expect(a.stderr).toBe('');
    expect(a.status).toBe(0);
    rl = path.join(tmp, 'out-retry-loop');
    const b = sh(process.execPath, [BIN, '-q', 'format-patch', '-t', 'retry-loop', '--cover-letter', '--date', DATE, '-o', rl, '.'], repo);
    expect(b.stderr).toBe('');
    expect(b.status).toBe(0);
  }, 600_000);

  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('writes one patch per subsystem that git am applies on a fresh branch, giving the rewrites', () => {
    const series = patches(all);
    git(repo, 'checkout', '-q', '-b', 'all', base);
    const am = sh('git', ['am', ...series], repo);
    expect(am.stderr).toBe('');
    expect(am.status).toBe(0);
    expect(git(repo, 'rev-list', '--count', `${base}..HEAD`).trim()).toBe(String(series.length));
    for (const c of changed) expect(fs.readFileSync(path.join(repo, c.path), 'latin1'), c.path).toBe(c.after);
  });

  it('passes scripts/checkpatch.pl --strict with no error and no warning on every patch', () => {
    const failures: string[] = [];
    for (const f of [...patches(all), ...patches(rl)]) {
      const c = checkpatch(tree, f);
      const total = /^total: (\d+) errors, (\d+) warnings, (\d+) checks/m.exec(c.stdout);
      expect(total, `${f}\n${c.stdout}`).not.toBeNull();
      if (total![1] !== '0' || total![2] !== '0') failures.push(`${path.basename(f)}:\n${c.stdout}`);
    }
    expect(failures).toEqual([]);
  });

  it('gives the retry-loop patches the kernel prefixes, the commit message and the maintainers', () => {
    const series = patches(rl);
    expect(series).toHaveLength(RETRY_LOOP_PATCHES.length);
    RETRY_LOOP_PATCHES.forEach((want, i) => {
      const mail = fs.readFileSync(series[i], 'latin1');
      const subject = /^Subject: (.*(?:\n .*)*)$/m.exec(mail)![1].replace(/\n /g, ' ');
      expect(subject).toBe(`[PATCH ${i + 1}/3] ${want.subject}`);
      expect(header(mail, 'To')).toContain(want.to);
      for (const l of want.cc) expect(header(mail, 'Cc')).toContain(l);
      const body = mail.slice(mail.indexOf('\n\n') + 2, mail.indexOf('\n---\n'));
      const flat = body.replace(/\n(?!\n)/g, ' ');
      expect(flat).toMatch(want.says);
      expect(flat).toMatch(/With FOLL_COMPLETE, \S+ pins all the requested pages or none/);
      expect(flat).toMatch(/errno returned when pinning fails is unchanged/);
      expect(body.endsWith('\n\nSigned-off-by: Ada Quill <ada.quill@example.org>')).toBe(true);
      for (const l of body.split('\n')) expect(l.length).toBeLessThanOrEqual(72);
      expect(mail).toMatch(/^ \d+ files? changed, \d+ insertions?\(\+\), \d+ deletions?\(-\)$/m);
    });
    git(repo, 'checkout', '-q', '-b', 'retry-loop', base);
    const am = sh('git', ['am', ...series], repo);
    expect(am.stderr).toBe('');
    expect(am.status).toBe(0);
  });

  it('writes a cover letter with the sites, the review list, the shortlog and base-commit', () => {
    const cover = fs.readFileSync(path.join(rl, '0000-cover-letter.patch'), 'latin1');
    expect(cover).toMatch(/^Subject: \[PATCH 0\/3\] treewide: replace the GUP retry loops with FOLL_COMPLETE$/m);
    expect(cover).toContain('Sites rewritten, by category:\n  retry-loop: 3\n');
    expect(cover).toMatch(/Left for review, not changed by this series \(1\):\n  drivers\/gpu\/drm\/i915\/gem\/i915_gem_userptr\.c:297\n    i915_gem_object_userptr_submit_init\(\) \[retry-loop\]: label out/);
    expect(cover).toContain(
      'Ada Quill (3):\n  drm/etnaviv: replace the GUP retry loop with FOLL_COMPLETE\n  drm/radeon: replace the GUP retry loop with FOLL_COMPLETE\n  RDMA/qib: replace the GUP retry loop with FOLL_COMPLETE\n\n',
    );
    expect(cover).toContain(' 3 files changed, 20 insertions(+), 46 deletions(-)\n\n\nbase-commit: ' + base + '\n-- \n');
    for (const p of RETRY_LOOP_PATCHES) expect(header(cover, 'To')).toContain(p.to);
  });

  it("takes To/Cc from the tree's get_maintainer.pl; the MAINTAINERS reader agrees on these files", () => {
    const m = readMaintainers(repo)!;
    for (const f of patches(rl)) {
      const mail = fs.readFileSync(f, 'latin1');
      const files = [...mail.matchAll(/^diff --git a\/(\S+) b\//gm)].map((x) => x[1]);
      const noHeaders = mail.replace(/^(To|Cc): .*(?:,\n    .*)*\n/gm, '');
      const gm = sh('perl', ['scripts/get_maintainer.pl', '--no-tree', '--no-git-fallback'], repo, { input: noHeaders });
      expect(gm.status).toBe(0);
      const want = parseGetMaintainerOutput(gm.stdout);
      expect({ to: header(mail, 'To'), cc: header(mail, 'Cc') }).toEqual(want);
      const ours = recipientsFor(m, files);
      expect([...ours.to].sort()).toEqual([...want.to].sort());
      expect([...ours.cc].sort()).toEqual([...want.cc].sort());
    }
  });

  it('adds a Fixes: trailer that checkpatch accepts to a leak fix', async () => {
    git(repo, 'checkout', '-q', '-b', 'leak', base);
    const result = await run({ paths: ['drivers/gpu/drm/etnaviv'], cwd: repo, transforms: ['retry-loop'], jobs: 0 });
    const leak = result.sites.find((s) => s.action === 'rewrite')!;
    leak.bugs = ['missing-unpin'];
    const series = buildSeries(result, { cwd: repo, date: DATE, maintainers: false });
    const mail = series.files[0].text;
    expect(mail).toContain(`\nFixes: ${base.slice(0, 12)} ("Import the files gupmod rewrites from Linux 6.1")\nSigned-off-by: `);
    expect(mail.replace(/\n(?!\n)/g, ' ')).toContain('did not release the pages pinned by earlier calls when a later call failed, leaking them');
    const file = path.join(tmp, 'leak.patch');
    fs.writeFileSync(file, mail, 'latin1');
    // checkpatch checks that the Fixes: commit exists and that its subject is quoted right.
    const c = checkpatch(tree, file, path.join(repo, '.git'));
    expect(c.stdout).toMatch(/total: 0 errors, 0 warnings, 0 checks/);
    const wrong = checkpatch(tree, file);
    expect(wrong.stdout).toMatch(/Unknown commit id/);
  });
});
