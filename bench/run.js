#!/usr/bin/env node
/**
 * `npm run bench`: gupmod over the Linux 6.1 tree, against grep, as one table
 * (see bench/README.md). Each figure is the median of BENCH_RUNS runs (5
 * unless set; at least 1) taken after one warm-up run; the runs of one table
 * section are interleaved (a, b, c, a, b, c, ...) so that load on the machine
 * weighs on all alike.
 *
 *   GUPMOD_KERNEL_TREE   the tree (default /usr/src/linux-source-6.1)
 *   BENCH_RUNS           runs per figure (default 5)
 *   BENCH_ONLY           comma list of sections: whole,diff,scaling,parse,gpu
 *
 * Wall time is measured here, from spawn to exit; peak RSS is the child's
 * maximum resident set size as reported by wait4() through GNU time
 * (/usr/bin/time -f %M), or, without it, VmHWM read from /proc/<pid>/status
 * every 10 ms. gupmod runs compiled (bin/gupmod.js): `npm run bench` builds
 * first.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'bin', 'gupmod.js');
const TREE = path.resolve(process.env.GUPMOD_KERNEL_TREE ?? '/usr/src/linux-source-6.1');
const RUNS = Math.max(1, Number.parseInt(process.env.BENCH_RUNS ?? '5', 10) || 5);
const SECTIONS = new Set((process.env.BENCH_ONLY ?? 'whole,diff,scaling,parse,gpu').split(',').map((s) => s.trim()));
const GNU_TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

function die(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(1);
}

if (!fs.existsSync(path.join(TREE, 'mm', 'gup.c'))) {
  die(
    `no Linux tree at ${TREE} (set GUPMOD_KERNEL_TREE to use another). On Debian 12:\n` +
      '  apt-get update && apt-get install -y linux-source-6.1\n' +
      '  tar -C /usr/src -xf /usr/src/linux-source-6.1.tar.xz',
  );
}
if (!fs.existsSync(path.join(ROOT, 'dist', 'src', 'cli.js'))) die('gupmod is not built: run `npm ci` (or `npm run build`) first');

const dist = (p) => import(pathToFileURL(path.join(ROOT, 'dist', p)).href);
const { GUP_TRIGGERS } = await dist('transforms/gup-api.js');
const { walkPathsSync } = await dist('src/files.js');
const { Prefilter } = await dist('src/prefilter.js');
const { parse } = await dist('src/parse/index.js');
const { processText, TRANSFORMS } = await dist('src/index.js');

const log = (s) => process.stderr.write(`bench: ${s}\n`);

// ---------------------------------------------------------------- measuring

/** Run a command once: wall ms, peak RSS KiB, exit code, sha256 of stdout. */
function measure(cmd, args, cwd) {
  return new Promise((resolve, reject) => {
    const rssFile = GNU_TIME ? path.join(os.tmpdir(), `gupmod-bench-${process.pid}.rss`) : null;
    const [file, argv] = GNU_TIME ? [GNU_TIME, ['-f', '%M', '-o', rssFile, cmd, ...args]] : [cmd, args];
    const hash = createHash('sha256');
    const t0 = process.hrtime.bigint();
    const child = spawn(file, argv, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let hwm = 0;
    child.stdout.on('data', (d) => hash.update(d));
    child.stderr.on('data', (d) => {
      if (stderr.length < 4000) stderr += d;
    });
    const poll = GNU_TIME
      ? null
      : setInterval(() => {
          try {
            const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'latin1'));
            if (m) hwm = Math.max(hwm, Number(m[1]));
          } catch {
            /* exited */
          }
        }, 10);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (poll) clearInterval(poll);
      let rss = hwm;
      if (rssFile) {
        const lines = fs.readFileSync(rssFile, 'latin1').trim().split('\n');
        rss = Number(lines[lines.length - 1]);
        fs.rmSync(rssFile, { force: true });
      }
      // gupmod: 0, or 2 when a file could not be read or parsed; grep -l: 0 or 1.
      if (signal || code > 2) {
        reject(new Error(`${cmd} ${args.slice(0, 8).join(' ')}: exit ${signal ?? code}\n${stderr}`));
        return;
      }
      resolve({ ms, rss, code, out: hash.digest('hex') });
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * Measure each spec (`{ key, cmd, args, cwd }`) once to warm up, then RUNS
 * times, interleaved. Returns key -> { ms, rss (medians), outs (set of
 * output hashes), codes }.
 */
async function series(label, specs) {
  const runs = new Map(specs.map((s) => [s.key, []]));
  for (let r = 0; r <= RUNS; r++) {
    for (const s of specs) {
      log(`${label}: ${s.key} ${r === 0 ? 'warm-up' : `run ${r}/${RUNS}`}`);
      const m = await measure(s.cmd, s.args, s.cwd);
      if (r > 0) runs.get(s.key).push(m);
    }
  }
  const out = new Map();
  for (const [k, ms] of runs) {
    out.set(k, {
      ms: median(ms.map((m) => m.ms)),
      rss: median(ms.map((m) => m.rss)),
      outs: new Set(ms.map((m) => m.out)),
      codes: new Set(ms.map((m) => m.code)),
    });
  }
  return out;
}

const gupmod = (args) => ({ cmd: process.execPath, args: [BIN, '-q', ...args] });
const sec = (ms) => `${(ms / 1000).toFixed(2)} s`;
const mb = (kib) => `${(kib / 1024).toFixed(0)} MB`;
const mbytes = (bytes) => (bytes / 1e6).toFixed(1);

/** Files and bytes under a directory of the tree, as gupmod walks it. */
function sizeOf(rel) {
  const { files } = walkPathsSync([rel], TREE);
  let bytes = 0;
  for (const f of files) bytes += fs.statSync(f).size;
  return { files: files.length, bytes, list: files };
}

/**
 * How much of a second CPU this process gets right now: a fixed pure-JS loop
 * on one worker thread, then on two at once (median of 3). 2.0x on an idle
 * two-CPU machine; near 1x when something else holds a CPU, and then no -j 2
 * figure below can show scaling.
 */
async function calibrate() {
  const { Worker } = await import('node:worker_threads');
  const code = `const { parentPort } = require('node:worker_threads');
let x = 0; for (let k = 0; k < 6e7; k++) x += Math.sqrt(k);
parentPort.postMessage(x);`;
  const once = async (n) => {
    const t = performance.now();
    await Promise.all(
      [...Array(n)].map(
        () =>
          new Promise((resolve, reject) => {
            const w = new Worker(code, { eval: true });
            w.once('message', () => resolve(w.terminate()));
            w.once('error', reject);
          }),
      ),
    );
    return performance.now() - t;
  };
  const one = median([await once(1), await once(1), await once(1)]);
  const two = median([await once(2), await once(2), await once(2)]);
  return (2 * one) / two;
}

// ---------------------------------------------------------------- sections

const rows = [];
const targets = [];
const notes = [];
const row = (what, files, bytes, m, note = '') =>
  rows.push(`| ${what} | ${files ?? ''} | ${bytes === undefined ? '' : mbytes(bytes)} | ${sec(m.ms)} | ${mb(m.rss)} | ${note} |`);
const target = (what, value, ok) => targets.push(`| ${what} | ${value} | ${ok ? 'met' : '**missed**'} |`);

const loadBefore = os.loadavg();
const cpuBefore = await calibrate();
const whole = sizeOf('.');
const triggers = [...new Set(GUP_TRIGGERS)];
const grepArgs = ['-rlE', triggers.join('|'), '--include=*.c', '--include=*.h', '.'];

if (SECTIONS.has('whole')) {
  const r = await series('whole tree', [
    { key: 'j1', ...gupmod(['--report', '--all', '-j', '1', '.']), cwd: TREE },
    { key: 'j2', ...gupmod(['--report', '--all', '-j', '2', '.']), cwd: TREE },
    { key: 'grep', cmd: 'grep', args: grepArgs, cwd: TREE },
  ]);
  const [j1, j2, g] = ['j1', 'j2', 'grep'].map((k) => r.get(k));
  const same = new Set([...j1.outs, ...j2.outs]).size === 1;
  row('`gupmod --report --all -j 1 .`', whole.files, whole.bytes, j1, `${(j1.ms / g.ms).toFixed(2)}x grep`);
  row('`gupmod --report --all -j 2 .`', whole.files, whole.bytes, j2, `${(j2.ms / g.ms).toFixed(2)}x grep; output ${same ? 'identical to' : '**differs from**'} -j 1`);
  row(`\`grep -rlE '${triggers.join('\\|')}' --include='*.c' --include='*.h' .\``, whole.files, whole.bytes, g);
  target('whole tree, --report --all, -j 2, under 3 s', sec(j2.ms), j2.ms < 3000);
  target('whole tree, -j 2 at most 2x grep', `${(j2.ms / g.ms).toFixed(2)}x`, j2.ms <= 2 * g.ms);
  target('peak RSS under 300 MB (-j 1, -j 2)', `${mb(j1.rss)}, ${mb(j2.rss)}`, Math.max(j1.rss, j2.rss) < 300 * 1024);
  if (!same) notes.push('The -j 1 and -j 2 reports differ: a determinism bug.');
}

if (SECTIONS.has('diff')) {
  const drivers = sizeOf('drivers');
  const r = await series('dry-run diff', [
    { key: 'tree', ...gupmod(['.']), cwd: TREE },
    { key: 'drivers', ...gupmod(['drivers/']), cwd: TREE },
  ]);
  row('`gupmod .` (dry-run diff, default -j)', whole.files, whole.bytes, r.get('tree'));
  row('`gupmod drivers/` (dry-run diff, default -j)', drivers.files, drivers.bytes, r.get('drivers'));
}

if (SECTIONS.has('scaling')) {
  // Nested samples of the tree's .c files (every 8th, 4th, 2nd, all of them
  // in sorted order), hard-linked (copied across file systems) into
  // temporary trees, so that each run walks a directory as usual.
  const all = whole.list.filter((f) => f.endsWith('.c'));
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'gupmod-bench-'));
  try {
    const specs = [];
    const sizes = new Map();
    for (const k of [8, 4, 2, 1]) {
      const dir = path.join(base, `1-${k}`);
      let bytes = 0;
      let n = 0;
      for (let i = 0; i < all.length; i += k) {
        const rel = path.relative(TREE, all[i]);
        const to = path.join(dir, rel);
        fs.mkdirSync(path.dirname(to), { recursive: true });
        try {
          fs.linkSync(all[i], to);
        } catch {
          fs.copyFileSync(all[i], to);
        }
        bytes += fs.statSync(to).size;
        n++;
      }
      sizes.set(`1/${k}`, { n, bytes });
      specs.push({ key: `1/${k}`, ...gupmod(['--report', '--all', '.']), cwd: dir });
    }
    const r = await series('scaling', specs);
    // Least-squares line through (MB, ms): a fixed cost (start-up) plus a
    // cost per MB; linear growth means the points sit on it.
    const pts = [...sizes].map(([key, { bytes }]) => [bytes / 1e6, r.get(key).ms]);
    const mx = pts.reduce((a, p) => a + p[0], 0) / pts.length;
    const my = pts.reduce((a, p) => a + p[1], 0) / pts.length;
    const slope = pts.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0) / pts.reduce((a, p) => a + (p[0] - mx) ** 2, 0);
    const fixed = my - slope * mx;
    for (const [key, { n, bytes }] of sizes) {
      const m = r.get(key);
      const fit = fixed + slope * (bytes / 1e6);
      row(`${key === '1/1' ? 'all' : key} of the .c files, \`--report --all\` (default -j)`, n, bytes, m, `line: ${sec(fit)} (${(((m.ms - fit) / fit) * 100).toFixed(0)}%)`);
    }
    notes.push(
      `Scaling: least-squares line ${sec(fixed)} + ${slope.toFixed(2)} ms/MB of .c files; the "line" column is its value at each size, and how far the measurement is from it.`,
    );
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
}

if (SECTIONS.has('parse')) {
  // The candidates, read into memory once; then, in this thread, tree-sitter
  // alone and the whole engine (parse, match, rewrite, verify) over them.
  const pf = new Prefilter(triggers);
  const cands = [];
  for (const f of whole.list) {
    const b = fs.readFileSync(f);
    if (pf.matches(b)) cands.push({ path: path.relative(TREE, f), text: b.toString('latin1') });
  }
  const bytes = cands.reduce((a, c) => a + c.text.length, 0);
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  const pass = async (fn) => {
    let ms = 0;
    let since = 0;
    for (const c of cands) {
      const t = performance.now();
      fn(c);
      ms += performance.now() - t;
      since += c.text.length;
      // The parser's trees are freed only by a collection (see src/scan.ts).
      if (since > 2e6) {
        gc();
        await new Promise((r) => setImmediate(r));
        since = 0;
      }
    }
    return ms;
  };
  const time = async (label, fn) => {
    const ms = [];
    for (let r = 0; r <= RUNS; r++) {
      log(`parse throughput: ${label} ${r === 0 ? 'warm-up' : `run ${r}/${RUNS}`}`);
      const t = await pass(fn);
      if (r > 0) ms.push(t);
    }
    return median(ms);
  };
  const tParse = await time('tree-sitter', (c) => parse(c.path, c.text));
  const tEngine = await time('engine', (c) => processText(c.path, c.text, TRANSFORMS));
  const rate = (ms) => `${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s`;
  rows.push(`| candidates, tree-sitter parse only (one thread) | ${cands.length} | ${mbytes(bytes)} | ${sec(tParse)} | | ${rate(tParse)} |`);
  rows.push(`| candidates, whole engine: parse, match, rewrite, verify (one thread) | ${cands.length} | ${mbytes(bytes)} | ${sec(tEngine)} | | ${rate(tEngine)} |`);
}

if (SECTIONS.has('gpu')) {
  const gpu = sizeOf('drivers/gpu');
  const r = await series('no prefilter, drivers/gpu', [
    { key: 'j1', ...gupmod(['--report', '--all', '--no-prefilter', '-j', '1', 'drivers/gpu/']), cwd: TREE },
    { key: 'j2', ...gupmod(['--report', '--all', '--no-prefilter', '-j', '2', 'drivers/gpu/']), cwd: TREE },
  ]);
  const [j1, j2] = [r.get('j1'), r.get('j2')];
  const speedup = j1.ms / j2.ms;
  row('`gupmod --report --all --no-prefilter -j 1 drivers/gpu/`', gpu.files, gpu.bytes, j1);
  row('`gupmod --report --all --no-prefilter -j 2 drivers/gpu/`', gpu.files, gpu.bytes, j2, `${speedup.toFixed(2)}x faster than -j 1`);
  target('--no-prefilter drivers/gpu/, -j 2 at least 1.6x faster than -j 1', `${speedup.toFixed(2)}x`, speedup >= 1.6);
}

// ---------------------------------------------------------------- report

const cpu = os.cpus()[0]?.model ?? 'unknown';
const grepVersion = spawnSync('grep', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0];
const makefile = fs.readFileSync(path.join(TREE, 'Makefile'), 'latin1');
const kv = ['VERSION', 'PATCHLEVEL', 'SUBLEVEL'].map((k) => new RegExp(`^${k} = (\\d+)`, 'm').exec(makefile)?.[1] ?? '?').join('.');
const load = (l) => l.map((x) => x.toFixed(2)).join(' ');
const lines = [
  `Machine: ${os.availableParallelism()} CPUs (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB memory, ` +
    `Node.js ${process.version}, ${grepVersion}, ${os.type()} ${os.release()}.`,
  `Tree: Linux ${kv} at ${TREE}, ${whole.files} .c/.h files, ${mbytes(whole.bytes)} MB. ` +
    `Medians of ${RUNS} runs after a warm-up. Load average before: ${load(loadBefore)}, after: ${load(os.loadavg())}; ` +
    `two threads of pure JavaScript ran ${cpuBefore.toFixed(2)}x as fast as one before, ${(await calibrate()).toFixed(2)}x after (2.00x: two idle CPUs). ` +
    `Peak RSS: ${GNU_TIME ? 'GNU time %M' : '/proc VmHWM, sampled'}.`,
  '',
  '| measurement | files | MB | wall (median) | peak RSS (median) | note |',
  '| --- | ---: | ---: | ---: | ---: | --- |',
  ...rows,
];
if (targets.length) lines.push('', '| target | measured | |', '| --- | --- | --- |', ...targets);
if (notes.length) lines.push('', ...notes);
process.stdout.write(lines.join('\n') + '\n');
