/**
 * `gupmod format-patch`: the layout pieces checked against the real git
 * (blob ids, diffstat, Subject folding, file names, From: encoding, dates),
 * MAINTAINERS lookups, commit messages, and the series end to end on copies
 * of fixtures/sample-tree made git repositories: `git am` applies it and
 * gives what `gupmod --write` gives. The CLI tests run the built tool: run
 * `npx tsc -p .` first.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import retryLoop from '../transforms/retry-loop/index.js';
import { fixesTrailer, introducingCommit, mostUsedPrefix, subjectPrefix } from '../src/git.js';
import { parseGetMaintainerOutput, parseMaintainers, prefixFromPaths, recipientsFor, sectionFor, sectionsFor } from '../src/maintainers.js';
import {
  blobId,
  buildSeries,
  bytesOf,
  commitBody,
  decodeRfc2047,
  diffCounts,
  diffstat,
  fillTemplate,
  fromHeader,
  parsePatchMail,
  patchFileName,
  rfc2822Date,
  sanitizeSubject,
  subjectHeader,
  wrapText,
  type FileStat,
} from '../src/output/format-patch.js';
import type { Site } from '../src/types.js';
import { ROOT } from './helpers.js';

const BIN = path.join(ROOT, 'bin', 'gupmod.js');
const SAMPLE = path.join(ROOT, 'fixtures', 'sample-tree');
const DATE = '2024-05-06T07:08:09Z';

// ---------------------------------------------------------------------------
// Helpers

const temps: string[] = [];
afterAll(() => {
  for (const d of temps) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'gupmod-fp-'));
  temps.push(d);
  return d;
}

/** Git with no user or system configuration but what the test sets. */
const GIT_ENV = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_DATE: '',
  GIT_COMMITTER_DATE: '',
  LC_ALL: 'C',
};

function sh(cmd: string, args: string[], cwd: string, opts: SpawnSyncOptions = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'latin1', maxBuffer: 64 << 20, env: GIT_ENV, ...opts });
  return { status: r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

function git(cwd: string, ...args: string[]): string {
  const r = sh('git', args, cwd);
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function initRepo(dir: string, name = 'Ada Quill', email = 'ada.quill@example.org'): void {
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'config', 'user.name', name);
  git(dir, 'config', 'user.email', email);
  git(dir, 'config', 'commit.gpgsign', 'false');
}

function commitAll(dir: string, subject: string, env: Record<string, string> = {}): void {
  git(dir, 'add', '-A');
  const r = sh('git', ['commit', '-q', '-m', subject], dir, { env: { ...GIT_ENV, ...env } });
  if (r.status !== 0) throw new Error(r.stderr);
}

/** The diffstat block of a git format-patch mail: from after `---` to the blank line. */
function statBlock(mail: string): string {
  const start = mail.indexOf('\n---\n') + 5;
  return mail.slice(start, mail.indexOf('\n\n', start) + 1);
}

function numstat(dir: string, range: string): FileStat[] {
  return git(dir, 'diff', '--numstat', range)
    .trim()
    .split('\n')
    .map((l) => {
      const [a, d, p] = l.split('\t');
      return { path: p, added: Number(a), deleted: Number(d) };
    });
}

function gupmod(args: string[], cwd: string, env: NodeJS.ProcessEnv = GIT_ENV) {
  return sh(process.execPath, [BIN, '-q', ...args], cwd, { env });
}

function lines(n: number, tag: string): string {
  return Array.from({ length: n }, (_, i) => `${tag} ${i}`).join('\n') + '\n';
}

// ---------------------------------------------------------------------------
// Layout pieces against the real git

describe('blob ids', () => {
  it('equal git hash-object, for ASCII, latin1 bytes, CRLF and empty files', () => {
    const dir = tempDir();
    const samples = ['', 'hello\n', 'caf\xe9 \xff\r\nline\r\n', 'no newline at the end', fs.readFileSync(path.join(SAMPLE, 'drivers/gpu/drm/rdx/rdx_ttm.c'), 'latin1')];
    samples.forEach((s, i) => {
      const f = path.join(dir, `f${i}`);
      fs.writeFileSync(f, Buffer.from(s, 'latin1'));
      expect(blobId(s)).toBe(git(dir, 'hash-object', f).trim());
    });
  });
});

describe('diffstat', () => {
  /** Commit `before`, then `after`, and compare git format-patch's stat with ours on git's counts. */
  function compare(before: Record<string, string>, after: Record<string, string>): string {
    const dir = tempDir();
    initRepo(dir);
    for (const [p, t] of Object.entries(before)) {
      fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
      fs.writeFileSync(path.join(dir, p), t);
    }
    commitAll(dir, 'base');
    for (const [p, t] of Object.entries(after)) fs.writeFileSync(path.join(dir, p), t);
    commitAll(dir, 'change');
    const mail = git(dir, 'format-patch', '-1', '--stdout');
    const ours = diffstat(numstat(dir, 'HEAD~1..HEAD'));
    expect(ours).toBe(statBlock(mail));
    return ours;
  }

  it('matches git for a small change in one file', () => {
    const s = compare({ 'a.c': lines(10, 'a') }, { 'a.c': lines(10, 'a').replace('a 3', 'A 3') });
    expect(s).toBe(' a.c | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)\n');
  });

  it('matches git when the graph is scaled and a long name is cut at a slash', () => {
    const long = 'drivers/gpu/drm/some_vendor/display/very_long_directory_name/and_a_long_file_name.c';
    const s = compare(
      {
        [long]: lines(300, 'x'),
        'drivers/gpu/drm/etnaviv/etnaviv_gem.c': lines(40, 'e'),
        'add-only.c': lines(2, 'p'),
        'del-only.c': lines(30, 'd'),
      },
      {
        [long]: lines(300, 'x').replace(/x (1\d\d)\n/g, 'y $1\n'),
        'drivers/gpu/drm/etnaviv/etnaviv_gem.c': lines(40, 'e').replace(/e ([0-9])\n/g, 'E $1\n'),
        'add-only.c': lines(2, 'p') + lines(5, 'q'),
        'del-only.c': lines(3, 'd'),
      },
    );
    expect(s).toMatch(/^ \.\.\.\//m);
    expect(s.split('\n').every((l) => l.length <= 72)).toBe(true);
  });

  it('matches git with 1000+ changed lines and deletions only', () => {
    compare({ 'big.c': lines(1500, 'b'), 'gone.c': lines(7, 'g') }, { 'big.c': lines(1500, 'c'), 'gone.c': lines(1, 'g') });
  });

  it('counts the lines of a diff, a removed line that reads "-- " included', () => {
    const d =
      'diff --git a/x b/x\nindex 1..2 100644\n--- a/x\n+++ b/x\n@@ -1,3 +1,2 @@\n a\n--- b\n-c\n+d\n' +
      'diff --git a/y b/y\n--- a/y\n+++ b/y\n@@ -1 +1 @@\n-1\n\\ No newline at end of file\n+2\n';
    expect(diffCounts(d)).toEqual([
      { path: 'x', added: 1, deleted: 2 },
      { path: 'y', added: 1, deleted: 1 },
    ]);
  });
});

describe('mail headers and file names', () => {
  const SUBJECTS = [
    'drm/etnaviv: replace the GUP retry loop with FOLL_COMPLETE',
    'media: ivtv: make the count check one FOLL_COMPLETE call, and a subject long enough to be folded twice by git format-patch at 78 columns',
    'RDMA/qib: fix   spaces...and..dots -- (parens) [brackets]!',
    'x',
  ];

  it('fold the Subject, name the files and wrap the cover shortlog as git does', () => {
    const dir = tempDir();
    initRepo(dir);
    fs.writeFileSync(path.join(dir, 'f'), '0\n');
    commitAll(dir, 'base');
    SUBJECTS.forEach((s, i) => {
      fs.writeFileSync(path.join(dir, 'f'), `${i + 1}\n`);
      commitAll(dir, s);
    });
    const out = path.join(dir, 'out');
    git(dir, 'format-patch', '-q', `-${SUBJECTS.length}`, '--cover-letter', '-v', '3', '--subject-prefix', 'RFC PATCH', '-o', out);
    const names = fs.readdirSync(out).sort();
    expect(names).toEqual(['v3-0000-cover-letter.patch', ...SUBJECTS.map((s, i) => patchFileName(i + 1, s, '3'))]);
    SUBJECTS.forEach((s, i) => {
      const mail = fs.readFileSync(path.join(out, names[i + 1]), 'latin1');
      const header = /^Subject: .*(\n .*)*/m.exec(mail)![0];
      expect(subjectHeader(`RFC PATCH v3 ${i + 1}/${SUBJECTS.length}`, s)).toBe(header);
    });
    const cover = fs.readFileSync(path.join(out, names[0]), 'latin1');
    const shortlog = cover.slice(cover.indexOf('):\n') + 3, cover.indexOf('\n\n', cover.indexOf('):\n')) + 1);
    expect(SUBJECTS.map((s) => wrapText(s, 72, 2, 4) + '\n').join('')).toBe(shortlog);
    // Without -v: plain numbers.
    expect(patchFileName(7, SUBJECTS[0])).toBe('0007-drm-etnaviv-replace-the-GUP-retry-loop-with-FOLL_COM.patch');
    expect(sanitizeSubject('a..b -- c.')).toBe('a.b-c');
  });

  it('write From: as git does for plain, RFC 822-special and non-ASCII names', () => {
    const dir = tempDir();
    initRepo(dir);
    const authors = ['Ada Quill', 'Pan, Xinhui', 'Christian König', 'Zoë "Z" Ünal-Çelik de la Montagne-Sainte-Geneviève et Fils'];
    for (const a of authors) {
      fs.writeFileSync(path.join(dir, 'f'), a);
      commitAll(dir, 'change', { GIT_AUTHOR_NAME: a, GIT_AUTHOR_EMAIL: 'a@example.org' });
    }
    const mails = git(dir, 'format-patch', `-${authors.length}`, '--stdout').split(/^(?=From [0-9a-f]{40} )/m);
    authors.forEach((a, i) => {
      const header = /^From: .*(\n .*)*/m.exec(mails[i])![0];
      expect(fromHeader(bytesOf(a), 'a@example.org')).toBe(header);
      if (/[^\x00-\x7f]/.test(a)) expect(decodeRfc2047(header.slice(6))).toBe(`${bytesOf(a)} <a@example.org>`);
    });
  });

  it('write dates in RFC 2822, in the offset given', () => {
    expect(rfc2822Date('2024-05-06T07:08:09Z')).toBe('Mon, 6 May 2024 07:08:09 +0000');
    expect(rfc2822Date('2024-05-06T09:08:09+02:00')).toBe('Mon, 6 May 2024 09:08:09 +0200');
    expect(rfc2822Date('2023-12-31T20:00:00-0530')).toBe('Sun, 31 Dec 2023 20:00:00 -0530');
    expect(() => rfc2822Date('yesterday-ish')).toThrow(/--date/);
    const dir = tempDir();
    initRepo(dir);
    fs.writeFileSync(path.join(dir, 'f'), 'x');
    commitAll(dir, 'c', { GIT_AUTHOR_DATE: '2024-05-06T09:08:09+02:00' });
    expect(git(dir, 'format-patch', '-1', '--stdout')).toContain(`Date: ${rfc2822Date('2024-05-06T09:08:09+02:00')}\n`);
  });

  it('wrap paragraphs at 72 columns without breaking a word', () => {
    const text = `${'word '.repeat(40)}${'x'.repeat(90)} end`;
    const w = wrapText(text.trim(), 72);
    for (const l of w.split('\n')) expect(l.length <= 72 || !l.includes(' ')).toBe(true);
    expect(w.replace(/\n/g, ' ')).toBe(text.trim());
  });

  it('reads a git format-patch mail back', () => {
    const mail =
      'From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nFrom: =?UTF-8?q?Zo=C3=AB?= <z@example.org>\n' +
      'Date: Mon, 6 May 2024 07:08:09 +0000\nSubject: [PATCH 3/9] mm/gup: add FOLL_COMPLETE, which makes a GUP call\n pin all pages or none\n' +
      'To: x@example.org\n\nBody.\n---\n';
    const p = parsePatchMail(mail, 'core.patch');
    expect(p.title).toBe('mm/gup: add FOLL_COMPLETE, which makes a GUP call pin all pages or none');
    expect(decodeRfc2047(p.from)).toBe(`${bytesOf('Zoë')} <z@example.org>`);
    expect(p.rest).toBe('Body.\n---\n');
    expect(() => parsePatchMail('diff --git a/x b/x\n', 'x.diff')).toThrow(/not a patch mail/);
  });
});

// ---------------------------------------------------------------------------
// MAINTAINERS and subject prefixes

describe('MAINTAINERS', () => {
  const TEXT = `List of maintainers
\tM: Mail patches to: FullName <address@domain>

ALPHA DRIVER
M:\tAnn Alpha <ann@example.org>
L:\talpha@lists.example.org
S:\tMaintained
F:\tdrivers/alpha/
X:\tdrivers/alpha/skip/

ALPHA DRIVER CORE
M:\tBo Core <bo@example.org>
R:\tRita Review <rita@example.org>
L:\tcore@lists.example.org (moderated for non-subscribers)
L:\tsecret@lists.example.org (subscribers-only)
S:\tSupported
F:\tdrivers/alpha/core*.c

DIRECTORY WITHOUT SLASH
M:\tDee Dir <dee@example.org>
F:\tdrivers/beta

BY NAME
M:\tNed Name <ned@example.org>
N:\tgamma

THE REST
M:\tLinus Torvalds <torvalds@example.org>
L:\tlinux-kernel@lists.example.org
S:\tBuried alive in reporters
F:\t*
F:\t*/
`;
  const m = parseMaintainers(TEXT, (p) => p === 'drivers/beta');

  it('gives a file to its most specific section, honouring X:', () => {
    expect(sectionFor(m, 'drivers/alpha/core_dma.c')?.name).toBe('ALPHA DRIVER CORE');
    expect(sectionFor(m, 'drivers/alpha/sub/core_dma.c')?.name).toBe('ALPHA DRIVER');
    expect(sectionFor(m, 'drivers/alpha/main.c')?.name).toBe('ALPHA DRIVER');
    // Only the catch-all owns it: no section (the split falls back to the directory).
    expect(sectionFor(m, 'drivers/alpha/skip/x.c')).toBeNull();
    expect(sectionsFor(m, 'drivers/alpha/skip/x.c').map((s) => s.section.name)).toEqual(['THE REST']);
    expect(sectionFor(m, 'drivers/beta/deep/x.c')?.name).toBe('DIRECTORY WITHOUT SLASH');
    // N: counts depth 0; THE REST's `*/` counts -1, as in get_maintainer.pl.
    expect(sectionsFor(m, 'drivers/gamma/x.c').map((s) => s.section.name)).toEqual(['BY NAME', 'THE REST']);
  });

  it('mails maintainers To, reviewers and lists Cc, like get_maintainer.pl', () => {
    expect(recipientsFor(m, ['drivers/alpha/core_dma.c'])).toEqual({
      to: ['Bo Core <bo@example.org>', 'Ann Alpha <ann@example.org>'],
      cc: ['Rita Review <rita@example.org>', 'core@lists.example.org', 'alpha@lists.example.org', 'linux-kernel@lists.example.org'],
    });
  });

  it("reads get_maintainer.pl's output", () => {
    const out = [
      'Lucas Stach <l.stach@pengutronix.de> (maintainer:DRM DRIVERS FOR VIVANTE GPU IP)',
      'Russell King <linux+etnaviv@armlinux.org.uk> (reviewer:DRM DRIVERS FOR VIVANTE GPU IP)',
      '"Pan, Xinhui" <Xinhui.Pan@amd.com> (supporter:RADEON and AMDGPU DRM DRIVERS)',
      'Jane Doe <jane@example.org> (odd fixer:SOME (OLD) DRIVER,commit_signer:1/2=50%)',
      'etnaviv@lists.freedesktop.org (moderated list:DRM DRIVERS FOR VIVANTE GPU IP)',
      'linux-kernel@vger.kernel.org (open list)',
      '',
    ].join('\n');
    expect(parseGetMaintainerOutput(out)).toEqual({
      to: ['Lucas Stach <l.stach@pengutronix.de>', '"Pan, Xinhui" <Xinhui.Pan@amd.com>', 'Jane Doe <jane@example.org>'],
      cc: ['Russell King <linux+etnaviv@armlinux.org.uk>', 'etnaviv@lists.freedesktop.org', 'linux-kernel@vger.kernel.org'],
    });
  });

  it('derives a subject prefix from paths when there is no history', () => {
    expect(prefixFromPaths(['drivers/gpu/drm/etnaviv/etnaviv_gem.c'])).toBe('drm/etnaviv:');
    expect(prefixFromPaths(['drivers/gpu/drm/rdx/a.c', 'drivers/gpu/drm/vexa/b.c'])).toBe('drm:');
    expect(prefixFromPaths(['drivers/infiniband/hw/qib/qib_user_pages.c'])).toBe('RDMA/qib:');
    expect(prefixFromPaths(['drivers/media/pci/ivtv/ivtv-udma.c'])).toBe('media: ivtv:');
    expect(prefixFromPaths(['mm/gup.c'])).toBe('mm/gup:');
    expect(prefixFromPaths(['fs/orangefs/orangefs-bufmap.c'])).toBe('orangefs:');
    expect(prefixFromPaths(['arch/x86/kvm/svm/sev.c'])).toBe('x86/svm:');
    expect(prefixFromPaths(['drivers/misc/xilinx_sdfec.c'])).toBe('misc: xilinx_sdfec:');
    expect(prefixFromPaths(['drivers/misc/habanalabs/common/memory.c'])).toBe('misc: habanalabs:');
    expect(prefixFromPaths(['drivers/gpu/drm/i915/gem/i915_gem_userptr.c'])).toBe('drm/i915/gem:');
    expect(prefixFromPaths(['drivers/rapidio/devices/rio_mport_cdev.c'])).toBe('rapidio:');
    expect(prefixFromPaths(['drivers/infiniband/core/umem.c'])).toBe('RDMA/core:');
  });

  it('finds the prefix most used in a history, and its capitalisation', () => {
    expect(subjectPrefix('media: ivtv: fix the DMA')).toEqual({ prefix: 'media: ivtv:', rest: 'fix the DMA' });
    expect(subjectPrefix('mm, gup: tidy')?.prefix).toBe('mm, gup:');
    expect(subjectPrefix('Revert "drm/etnaviv: x"')).toBeNull();
    expect(subjectPrefix('Fix the build: again')).toBeNull();
    expect(mostUsedPrefix(['drm/etnaviv: a', 'drm: b', 'drm/etnaviv: c', 'Merge x'])).toEqual({ prefix: 'drm/etnaviv:', capitalised: false });
    expect(mostUsedPrefix(['RDMA/qib: Remove x', 'IB/qib: Fix y', 'IB/qib: Use z'])).toEqual({ prefix: 'IB/qib:', capitalised: true });
    expect(mostUsedPrefix(['no prefix here'])).toBeNull();
  });
});

// ---------------------------------------------------------------------------
// Commit messages

function site(over: Partial<Site>): Site {
  return {
    file: 'drivers/gpu/drm/etnaviv/etnaviv_gem.c',
    line: 675,
    column: 9,
    function: 'etnaviv_gem_userptr_get_pages',
    api: 'pin_user_pages_fast',
    category: 'retry-loop',
    action: 'rewrite',
    bugs: [],
    reason: 'accumulates pinned += ret until npages; folded into one FOLL_COMPLETE call; release at out now covers npages pages',
    transform: 'retry-loop',
    ...over,
  };
}

describe('commit messages', () => {
  const metaOf = (id: string) => (id === 'retry-loop' ? retryLoop.meta : undefined);

  it("say what the code did, FOLL_COMPLETE's guarantee, why the release goes and the errno, at 72 columns", () => {
    const body = commitBody([site({})], metaOf, ['Signed-off-by: Ada Quill <ada@example.org>']);
    expect(body).toMatch(/^etnaviv_gem_userptr_get_pages\(\) calls pin_user_pages_fast\(\) in a loop\nthat accumulates pinned \+= ret until npages/);
    expect(body.replace(/\n/g, ' ')).toContain('Along with the loop: release at out now covers npages pages.');
    expect(body).not.toContain('folded into one');
    expect(body.replace(/\n/g, ' ')).toMatch(/With FOLL_COMPLETE, pin_user_pages_fast\(\) pins all the requested pages or none/);
    expect(body.replace(/\n/g, ' ')).toMatch(/no longer releases a partial pin/);
    expect(body.replace(/\n/g, ' ')).toMatch(/errno returned when pinning fails is unchanged/);
    expect(body.endsWith('\n\nSigned-off-by: Ada Quill <ada@example.org>\n')).toBe(true);
    for (const l of body.split('\n')) expect(l.length).toBeLessThanOrEqual(72);
  });

  it('add the fix paragraph for a site with a bug, once per paragraph text', () => {
    const body = commitBody(
      [site({ bugs: ['missing-unpin'] }), site({ line: 700, function: 'other_fn', api: 'get_user_pages', reason: 'accumulates got += r until n; folded into one FOLL_COMPLETE call' })],
      metaOf,
      ['Fixes: 0123456789ab ("drm/etnaviv: add userptr")', 'Signed-off-by: A <a@example.org>'],
    ).replace(/\n(?!\n)/g, ' ');
    expect(body).toContain('etnaviv_gem_userptr_get_pages() did not release the pages pinned by earlier calls');
    expect(body).toContain('pin_user_pages_fast() and get_user_pages() pins');
    expect(body).toContain('other_fn() calls get_user_pages() in a loop that accumulates got += r until n: one call');
    expect(body).toMatch(/Fixes: 0123456789ab \("drm\/etnaviv: add userptr"\) Signed-off-by/);
  });

  it('fall back to the summary, reason and help of a transform without commitText', () => {
    const meta = { id: 'count-check', summary: 'make GUP count checks one FOLL_COMPLETE call', rewrites: '', refuses: [], help: 'FOLL_COMPLETE pins all or none' };
    const body = commitBody([site({ transform: 'count-check', category: 'count-check', reason: 'a short pin used to fail with -EFAULT; the caller now sees the -errno' })], () => meta, ['Signed-off-by: A <a@example.org>']);
    expect(body).toBe(
      'etnaviv_gem_userptr_get_pages() calls pin_user_pages_fast(): a short pin\nused to fail with -EFAULT; the caller now sees the -errno.\n\nFOLL_COMPLETE pins all or none.\n\nSigned-off-by: A <a@example.org>\n',
    );
  });

  it('fill templates, dropping optional segments with an empty placeholder', () => {
    expect(fillTemplate('a {x}[[ b {y}.]] c', { x: '1', y: '' })).toBe('a 1 c');
    expect(fillTemplate('a {x}[[ b {y}.]] c', { x: '1', y: '2' })).toBe('a 1 b 2. c');
  });
});

// ---------------------------------------------------------------------------
// Fixes: from history

describe('Fixes: trailer', () => {
  it('names the commit that introduced the line of a leaking site, followed through later edits', () => {
    const dir = tempDir();
    initRepo(dir);
    const file = 'drivers/misc/leak.c';
    fs.mkdirSync(path.join(dir, 'drivers/misc'), { recursive: true });
    const v1 = 'int f(void)\n{\n\tint ret;\n\n\tret = pin_user_pages_fast(a, n, 0, p);\n\tif (ret != n)\n\t\treturn -EFAULT;\n\treturn 0;\n}\n';
    fs.writeFileSync(path.join(dir, file), v1);
    commitAll(dir, 'misc: leak: add the leaky driver');
    const first = git(dir, 'rev-parse', 'HEAD').trim();
    const v2 = v1.replace('(a, n, 0, p)', '(addr, n, 0, p)');
    fs.writeFileSync(path.join(dir, file), '/* header */\n' + v2);
    commitAll(dir, 'misc: leak: rename a to addr');
    const c = introducingCommit(dir, file, 6);
    expect(c).toEqual({ hash: first, subject: 'misc: leak: add the leaky driver' });
    expect(fixesTrailer(c!)).toBe(`Fixes: ${first.slice(0, 12)} ("misc: leak: add the leaky driver")`);

    const before = fs.readFileSync(path.join(dir, file), 'latin1');
    const after = before.replace('0, p);', 'FOLL_COMPLETE, p);').replace('if (ret != n)\n\t\treturn -EFAULT;', 'if (ret)\n\t\treturn ret;');
    const s = site({ file, line: 6, function: 'f', bugs: ['missing-unpin'], transform: 'retry-loop' });
    const series = buildSeries(
      { sites: [s], changed: [{ path: file, absPath: path.join(dir, file), before, after }] },
      { cwd: dir, date: DATE },
    );
    expect(series.files).toHaveLength(1);
    const mail = series.files[0].text;
    expect(mail).toContain(`\nFixes: ${first.slice(0, 12)} ("misc: leak: add the leaky driver")\nSigned-off-by: Ada Quill <ada.quill@example.org>\n---\n`);
    // One patch, no cover letter: `[PATCH]`, the prefix from history, base-commit in it.
    expect(mail).toMatch(/^Subject: \[PATCH\] misc: leak: replace the GUP retry loop with FOLL_COMPLETE$/m);
    expect(mail).toContain(`\nbase-commit: ${git(dir, 'rev-parse', 'HEAD').trim()}\n-- \n`);
    // And it applies.
    fs.writeFileSync(path.join(dir, 'p.patch'), mail, 'latin1');
    git(dir, 'am', '-q', 'p.patch');
    expect(fs.readFileSync(path.join(dir, file), 'latin1')).toBe(after);
  });
});

// ---------------------------------------------------------------------------
// The series on the sample tree, with the built CLI

/** A copy of the sample tree made a git repository with a seeded history; returns its path. */
function sampleRepo(): string {
  const dir = path.join(tempDir(), 'tree');
  fs.cpSync(SAMPLE, dir, { recursive: true });
  initRepo(dir);
  commitAll(dir, 'Import the sample tree');
  const seed = (file: string, subject: string) => {
    fs.appendFileSync(path.join(dir, file), `/* ${subject} */\n`);
    commitAll(dir, subject);
  };
  seed('drivers/gpu/drm/rdx/rdx_ttm.c', 'drm/rdx: tidy the userptr pin');
  seed('drivers/gpu/drm/rdx/rdx_ttm.c', 'drm/rdx: drop a stale comment');
  seed('drivers/gpu/drm/vexa/vexa_gem.c', 'drm: vexa: note the page array');
  seed('drivers/infiniband/hw/qlx/qlx_user_pages.c', 'IB/qlx: Fix the pinned_vm accounting');
  seed('drivers/infiniband/hw/qlx/qlx_user_pages.c', 'IB/qlx: Use mmap_read_lock');
  return dir;
}

function patches(out: string): string[] {
  return fs.readdirSync(out).filter((f) => f.endsWith('.patch')).sort();
}

function read(out: string, f: string): string {
  return fs.readFileSync(path.join(out, f), 'latin1');
}

/** Every file of a tree but .git, as path -> bytes. */
function snapshot(dir: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const f of fs.readdirSync(dir, { recursive: true }) as string[]) {
    if (f === '.git' || f.startsWith('.git/')) continue;
    const p = path.join(dir, f);
    if (fs.statSync(p).isFile()) m.set(f, fs.readFileSync(p, 'latin1'));
  }
  return m;
}

describe('file names git quotes', () => {
  it('are quoted in the diff headers and the diffstat as git quotes them, and git am applies the patch', () => {
    const tree = path.join(tempDir(), 'tree');
    fs.mkdirSync(tree);
    initRepo(tree);
    const text = fs.readFileSync(path.join(SAMPLE, 'drivers/gpu/drm/rdx/rdx_ttm.c'));
    for (const n of ['evil\nname.c', 'caf\u00e9 "q".c', 'back\\slash\t.c']) fs.writeFileSync(path.join(tree, n), text);
    commitAll(tree, 'base');
    const out = path.join(tempDir(), 'out');
    const r = gupmod(['format-patch', '--split', 'dir', '--date', DATE, '-o', out, '.'], tree);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const files = patches(out);
    expect(files).toHaveLength(1);
    const mail = read(out, files[0]!);
    expect(mail).toContain('\ndiff --git "a/evil\\nname.c" "b/evil\\nname.c"\n');
    expect(mail).toContain('\n+++ "b/caf\\303\\251 \\"q\\".c"\n');
    git(tree, 'am', '-q', path.join(out, files[0]!));
    expect(git(tree, 'status', '--porcelain')).toBe('');
    expect(statBlock(mail)).toBe(statBlock(git(tree, 'format-patch', '-1', '--stdout')));
    expect(statBlock(mail)).toContain(' "back\\\\slash\\t.c" ');
  });
});

describe('gupmod format-patch on the sample tree', () => {
  it('writes a series that git am applies on a fresh branch, equal to gupmod --write', () => {
    const tree = sampleRepo();
    const out = path.join(path.dirname(tree), 'out');
    const r = gupmod(['format-patch', '--cover-letter', '--date', DATE, '-o', out, '.'], tree);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const files = patches(out);
    expect(files[0]).toBe('0000-cover-letter.patch');
    expect(r.stdout.trim().split('\n')).toEqual(files.map((f) => path.join(out, f)));
    const series = files.slice(1);
    expect(series.length).toBeGreaterThan(1);

    // The reference: gupmod --write on the same tree.
    const ref = path.join(path.dirname(tree), 'ref');
    fs.cpSync(tree, ref, { recursive: true });
    expect(gupmod(['--write', '.'], ref).status).toBe(0);

    // Each patch applies on the base by itself, with index lines holding the base's blob ids.
    const base = git(tree, 'rev-parse', 'HEAD').trim();
    for (const f of series) {
      const a = sh('git', ['apply', '--check', path.join(out, f)], tree);
      expect(a.stderr).toBe('');
      expect(a.status).toBe(0);
    }
    git(tree, 'checkout', '-q', '-b', 'fresh');
    const am = sh('git', ['am', ...series.map((f) => path.join(out, f))], tree);
    expect(am.stderr).toBe('');
    expect(am.status).toBe(0);
    expect(git(tree, 'rev-list', '--count', `${base}..HEAD`).trim()).toBe(String(series.length));
    const got = snapshot(tree);
    const want = snapshot(ref);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [k, v] of want) expect(got.get(k), k).toBe(v);

    // Blob ids: before = git hash-object of the base's file, after = of the applied file.
    for (const f of series) {
      for (const m of read(out, f).matchAll(/^diff --git a\/(\S+) b\/\S+\nindex ([0-9a-f]{40})\.\.([0-9a-f]{40}) 100644$/gm)) {
        expect(m[2]).toBe(git(tree, 'rev-parse', `${base}:${m[1]}`).trim());
        expect(m[3]).toBe(git(tree, 'hash-object', m[1]).trim());
      }
      expect(read(out, f)).toMatch(/^index [0-9a-f]{40}\.\.[0-9a-f]{40} 100644$/m);
    }

    // Commit subjects: the prefix of the seeded history, capitalised as there.
    const subjects = git(tree, 'log', '--format=%s', `${base}..HEAD`).trim().split('\n').reverse();
    expect(subjects).toContain('drm/rdx: replace the GUP retry loops with FOLL_COMPLETE');
    expect(subjects).toContain('IB/qlx: Replace the GUP retry loop with FOLL_COMPLETE');
    // The author and the commit messages survive git am.
    expect(git(tree, 'log', '-1', '--format=%an <%ae>%n%b', `${base}..HEAD`)).toMatch(/^Ada Quill <ada.quill@example.org>\n[\s\S]*Signed-off-by: Ada Quill <ada.quill@example.org>\n/);

    // The cover letter: the series, sites per category, base-commit; To/Cc from MAINTAINERS.
    const cover = read(out, files[0]);
    expect(cover).toMatch(new RegExp(`^Subject: \\[PATCH 0/${series.length}\\] `, 'm'));
    expect(cover).toContain('Sites rewritten, by category:\n  retry-loop: ');
    expect(cover).toContain(`\n\nbase-commit: ${base}\n-- \ngupmod `);
    expect(cover).toMatch(/^Ada Quill \(\d+\):\n  drm\/rdx: replace the GUP retry loops with FOLL_COMPLETE\n/m);
    expect(cover).toMatch(/^To: (.*,\n    )*Chidi Okafor <chidi.okafor@example.org>/m);
    const qlx = read(out, series.find((f) => f.includes('qlx'))!);
    expect(qlx).toContain('\nTo: Chidi Okafor <chidi.okafor@example.org>\nCc: linux-rdma@lists.example.org\n\n');
    expect(qlx).not.toContain('base-commit');
    const drm = read(out, series.find((f) => f.includes('drm-rdx'))!);
    expect(drm).toContain('\nTo: Ada Quill <ada.quill@example.org>,\n    Bruno Fenwick <bruno.fenwick@example.org>\nCc: dri-devel@lists.example.org\n\n');
  });

  it('is stable: the same tree and date give the same bytes', () => {
    const tree = sampleRepo();
    const a = path.join(path.dirname(tree), 'a');
    const b = path.join(path.dirname(tree), 'b');
    expect(gupmod(['format-patch', '--cover-letter', '--date', DATE, '-o', a, '.'], tree).status).toBe(0);
    expect(gupmod(['format-patch', '--cover-letter', '--date', DATE, '-o', b, '.'], tree).status).toBe(0);
    expect(patches(b)).toEqual(patches(a));
    for (const f of patches(a)) expect(read(b, f)).toBe(read(a, f));
  });

  it('splits per file, directory or subsystem', () => {
    const tree = sampleRepo();
    const changed = gupmod(['.'], tree).stdout.match(/^diff --git /gm)!.length;
    const count = (split: string) => {
      const out = path.join(path.dirname(tree), `out-${split}`);
      expect(gupmod(['format-patch', '--split', split, '--date', DATE, '-o', out, '.'], tree).status).toBe(0);
      return patches(out).length;
    };
    expect(count('file')).toBe(changed);
    expect(count('dir')).toBe(changed);
    // rdx and vexa share the DRM section.
    expect(count('subsystem')).toBe(changed - 1);
  });

  it('numbers and names as -v and --subject-prefix say, and puts the core patch first', () => {
    const tree = sampleRepo();
    // A core patch made with git format-patch, then undone.
    fs.appendFileSync(path.join(tree, 'mm/gup.c'), '/* FOLL_COMPLETE: pin all pages or none. */\n');
    commitAll(tree, 'mm/gup: add FOLL_COMPLETE');
    const core = path.join(path.dirname(tree), 'core.patch');
    fs.writeFileSync(core, git(tree, 'format-patch', '-1', '--stdout', '--to=someone@example.org'), 'latin1');
    git(tree, 'reset', '-q', '--hard', 'HEAD~1');

    const out = path.join(path.dirname(tree), 'out');
    const r = gupmod(['format-patch', '-v', '2', '--subject-prefix', 'RFC PATCH', '--core-patch', core, '--date', DATE, '-o', out, '.'], tree);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const files = patches(out);
    const n = files.length;
    expect(files[0]).toBe('v2-0001-mm-gup-add-FOLL_COMPLETE.patch');
    expect(files.every((f) => f.startsWith('v2-'))).toBe(true);
    const first = read(out, files[0]);
    expect(first).toMatch(new RegExp(`^Subject: \\[RFC PATCH v2 1/${n}\\] mm/gup: add FOLL_COMPLETE$`, 'm'));
    expect(first).not.toContain('someone@example.org');
    expect(read(out, files[1])).toMatch(new RegExp(`^Subject: \\[RFC PATCH v2 2/${n}\\] `, 'm'));
    git(tree, 'checkout', '-q', '-b', 'fresh');
    const am = sh('git', ['am', ...files.map((f) => path.join(out, f))], tree);
    expect(am.stderr).toBe('');
    expect(am.status).toBe(0);
    expect(fs.readFileSync(path.join(tree, 'mm/gup.c'), 'latin1')).toContain('FOLL_COMPLETE: pin all pages or none');
    expect(git(tree, 'log', '--format=%s', '-n', String(n), '--reverse').split('\n')[0]).toBe('mm/gup: add FOLL_COMPLETE');
  });

  it('takes To/Cc from --to/--cc, and none with --no-maintainers', () => {
    const tree = sampleRepo();
    const a = path.join(path.dirname(tree), 'a');
    expect(gupmod(['format-patch', '--to', 'x@example.org', '--to', 'Y Why <y@example.org>', '--cc', 'z@example.org', '-o', a, '.'], tree).status).toBe(0);
    for (const f of patches(a)) expect(read(a, f)).toContain('\nTo: x@example.org,\n    Y Why <y@example.org>\nCc: z@example.org\n\n');
    const b = path.join(path.dirname(tree), 'b');
    expect(gupmod(['format-patch', '--no-maintainers', '--cover-letter', '-o', b, '.'], tree).status).toBe(0);
    for (const f of patches(b)) expect(read(b, f)).not.toMatch(/^(To|Cc):/m);
  });

  it('outside git: author from --from, prefixes from the paths, no base-commit', () => {
    const tree = path.join(tempDir(), 'tree');
    fs.cpSync(SAMPLE, tree, { recursive: true });
    const home = tempDir();
    const env = { ...GIT_ENV, HOME: home, GIT_CEILING_DIRECTORIES: path.dirname(tree) };
    const out = path.join(path.dirname(tree), 'out');
    const bad = gupmod(['format-patch', '-o', out, '.'], tree, env);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/no author for the patches: pass --from 'Name <email>', or set git config user.name and user.email/);
    expect(fs.existsSync(out)).toBe(false);
    const r = gupmod(['format-patch', '--cover-letter', '--from', 'Zoë Ünal <zoe@example.org>', '--date', DATE, '-o', out, '.'], tree, env);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const files = patches(out);
    const all = files.map((f) => read(out, f)).join('');
    expect(all).not.toContain('base-commit');
    expect(all).toMatch(/^Subject: \[PATCH \d\/\d\] drm: replace the GUP retry loops with FOLL_COMPLETE$/m);
    expect(all).toMatch(/^Subject: \[PATCH \d\/\d\] RDMA\/qlx: replace the GUP retry loop with FOLL_COMPLETE$/m);
    // A non-ASCII author: RFC 2047 in From:, UTF-8 with MIME headers in the body.
    expect(all).toContain('From: =?UTF-8?q?Zo=C3=AB=20=C3=9Cnal?= <zoe@example.org>\n');
    expect(all).toContain(`\nSigned-off-by: ${bytesOf('Zoë Ünal')} <zoe@example.org>\n`);
    expect(all).toContain('\nMIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n');
  });

  it('says what is wrong with --split and --core-patch values', () => {
    const tree = sampleRepo();
    const out = path.join(path.dirname(tree), 'out');
    const r = gupmod(['format-patch', '--split', 'module', '-o', out, '.'], tree);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--split|Invalid values/);
    const plain = path.join(path.dirname(tree), 'plain.diff');
    fs.writeFileSync(plain, gupmod(['.'], tree).stdout, 'latin1');
    const c = gupmod(['format-patch', '--core-patch', plain, '-o', out, '.'], tree);
    expect(c.status).toBe(2);
    expect(c.stderr).toMatch(/plain\.diff: not a patch mail/);
    const m = gupmod(['format-patch', '.'], tree);
    expect(m.status).toBe(2);
    expect(m.stderr).toMatch(/Missing required argument: o/);
  });
});
