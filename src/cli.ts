/** The command line: yargs to options, `run()`, output and exit status. Thin by design. */
import * as path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { createRequire } from 'node:module';
import { TRANSFORMS } from '../transforms/index.js';
import { UsageError, run, type RunResult } from './run.js';
import { jsonReport, reportable, textReport } from './output/report.js';
import { oneLine, quotePath } from './quote.js';
import type { Split } from './output/format-patch.js';

// The diff, SARIF and format-patch writers are imported where they are used:
// start-up time is part of every run.

const VERSION: string = createRequire(import.meta.url)('../../package.json').version;

const EXIT_OK = 0;
const EXIT_CHECK = 1;
const EXIT_ERROR = 2;

function out(s: string): void {
  process.stdout.write(Buffer.from(s, 'latin1'));
}

/** A file problem on one stderr line: the name as git quotes it, the reason without control characters. */
function problemLine(p: { path: string; reason: string }): string {
  return `gupmod: ${quotePath(p.path)}: ${oneLine(p.reason)}\n`;
}

function progressPrinter(enabled: boolean) {
  if (!enabled) return { update: undefined, done: () => undefined };
  let last = 0;
  let shown = false;
  return {
    update: (p: { scanned: number; total: number; candidates: number; sites: number }) => {
      const now = Date.now();
      if (now - last < 250 && p.scanned !== p.total) return;
      last = now;
      shown = true;
      process.stderr.write(`\r\x1b[Kgupmod: ${p.scanned}/${p.total} files, ${p.candidates} candidates, ${p.sites} sites`);
    },
    done: () => {
      if (shown) process.stderr.write('\r\x1b[K');
    },
  };
}

async function main(argv: string[]): Promise<number> {
  const parser = yargs(argv)
    .scriptName('gupmod')
    .usage('$0 [options] [paths..]\n\nFind GUP retry loops in kernel C code and rewrite them into one FOLL_COMPLETE call.\nWithout --write, prints a unified diff (dry run).')
    .command('$0 [paths..]', 'dry run: print the rewrites as a unified diff', (y) =>
      y.positional('paths', { type: 'string', array: true, default: ['.'], describe: 'files and directories to scan' }),
    )
    .command('list-transforms', 'list the transforms with what they rewrite and refuse')
    .command('format-patch [paths..]', 'write the rewrites as a git format-patch series, one patch per subsystem', (y) =>
      y
        .positional('paths', { type: 'string', array: true, default: ['.'], describe: 'files and directories to scan' })
        .option('o', { alias: 'output-directory', type: 'string', demandOption: true, requiresArg: true, describe: 'write the patches into this directory' })
        .option('split', { choices: ['file', 'dir', 'subsystem'] as const, default: 'subsystem' as const, describe: 'one patch per MAINTAINERS section, directory or file' })
        .option('from', { type: 'string', requiresArg: true, describe: "author 'Name <email>' (default: git config user.name/user.email)" })
        .option('subject-prefix', { type: 'string', default: 'PATCH', describe: 'the [PATCH] tag of the subjects' })
        .option('reroll-count', { alias: 'v', type: 'string', requiresArg: true, describe: 'mark the series as version N: [PATCH vN n/m], vN-0001-*.patch' })
        .option('cover-letter', { type: 'boolean', default: false, describe: 'also write 0000-cover-letter.patch summarising the series' })
        .option('to', { type: 'string', requiresArg: true, describe: 'To: address (repeatable; replaces the maintainers)' })
        .option('cc', { type: 'string', requiresArg: true, describe: 'Cc: address (repeatable; replaces the reviewers and lists)' })
        .option('maintainers', { type: 'boolean', default: true, describe: 'To/Cc from scripts/get_maintainer.pl or MAINTAINERS (--no-maintainers: none)' })
        .option('core-patch', { type: 'string', requiresArg: true, describe: 'a patch mail to put first, numbered 0001 (the one introducing FOLL_COMPLETE)' })
        .option('date', { type: 'string', requiresArg: true, describe: 'the Date: of every mail, fixed (for tests); default now' }),
    )
    .option('write', { alias: 'w', type: 'boolean', default: false, describe: 'apply the rewrites in place (atomic per file)' })
    .option('check', { type: 'boolean', default: false, describe: 'exit 1 when any rewrite would be made; write nothing' })
    .option('report', { alias: 'r', type: 'boolean', default: false, describe: 'print findings instead of a diff' })
    .option('all', { type: 'boolean', default: false, describe: 'with --report: every GUP call site, including those left alone' })
    .option('format', { choices: ['text', 'json', 'sarif'] as const, default: 'text' as const, describe: 'report format' })
    .option('transform', { alias: 't', type: 'string', describe: 'only this transform (repeatable)' })
    .option('jobs', { alias: 'j', type: 'number', describe: 'parallel workers (default: number of CPUs)' })
    .option('C', { type: 'string', describe: 'run as if started in this directory' })
    .option('color', { choices: ['auto', 'always', 'never'] as const, default: 'auto' as const, describe: 'colour the diff' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no progress line' })
    .option('prefilter', { type: 'boolean', default: true, describe: 'skip files without a GUP name before parsing (--no-prefilter to parse all)' })
    .strict()
    .help()
    .version()
    .exitProcess(false)
    .fail((msg, err) => {
      throw new UsageError(msg || err?.message || 'bad usage');
    });
  const args = await parser.parseAsync();
  if (args.help || args.version) return EXIT_OK;
  const cmd = args._[0];
  if (cmd === 'list-transforms') {
    for (const t of TRANSFORMS) {
      out(`${t.meta.id}: ${t.meta.summary}\n  rewrites: ${t.meta.rewrites}\n`);
      for (const r of t.meta.refuses) out(`  refuses: ${r}\n`);
    }
    return EXIT_OK;
  }
  if (cmd === 'format-patch') return formatPatch(args);
  if (cmd !== undefined) throw new UsageError(`unknown command '${cmd}'`);
  if (args.write && args.check) throw new UsageError('--write and --check exclude each other');
  if (args.all && !args.report) throw new UsageError('--all goes with --report');
  const { cwd, result } = await runFromArgs(args, args.write);
  if (args.report) {
    const sites = reportable(result.sites, args.all);
    if (args.format === 'sarif') out((await import('./output/sarif.js')).sarifReport(sites, TRANSFORMS.map((t) => t.meta), { root: cwd, version: VERSION }));
    else out(args.format === 'json' ? jsonReport(sites) : textReport(sites));
  } else if (!args.write && !args.check) {
    const color = args.color === 'always' || (args.color === 'auto' && process.stdout.isTTY === true);
    const { colorDiff, fileDiff } = await import('./output/diff.js');
    for (const c of result.changed) {
      const d = fileDiff(c.path, c.before, c.after);
      out(color ? colorDiff(d) : d);
    }
  }
  if (result.problems.length) return EXIT_ERROR;
  if (args.check && result.changed.length) return EXIT_CHECK;
  return EXIT_OK;
}

/** A repeatable option's values (yargs gives one value as a string). */
function list(v: unknown): string[] | undefined {
  return v === undefined ? undefined : ([] as string[]).concat(v as string | string[]);
}

/** `run()` with the options both commands share, a progress line, and the file problems on stderr. */
async function runFromArgs(args: Record<string, unknown>, write: boolean): Promise<{ cwd: string; result: RunResult }> {
  const cwd = path.resolve((args.C as string | undefined) ?? '.');
  const progress = progressPrinter(!args.quiet && process.stderr.isTTY === true);
  let result: RunResult;
  try {
    result = await run({
      paths: (args.paths as string[] | undefined) ?? ['.'],
      cwd,
      transforms: list(args.transform),
      write,
      jobs: args.jobs as number | undefined,
      noPrefilter: !args.prefilter,
      onProgress: progress.update,
    });
  } finally {
    progress.done();
  }
  for (const p of result.problems) process.stderr.write(problemLine(p));
  return { cwd, result };
}

/** `gupmod format-patch`: run, then write the series; prints the files written, like git. */
async function formatPatch(args: Record<string, unknown>): Promise<number> {
  if (args.write || args.check || args.report) throw new UsageError('format-patch writes patches only: --write, --check and --report do not go with it');
  const { cwd, result } = await runFromArgs(args, false);
  const outDir = args.o as string;
  const { SeriesError, writeSeries } = await import('./output/format-patch.js');
  try {
    const { written, warnings } = await writeSeries(result, {
      cwd,
      outDir,
      split: args.split as Split,
      from: args.from as string | undefined,
      subjectPrefix: args.subjectPrefix as string,
      rerollCount: args.rerollCount as string | undefined,
      coverLetter: args.coverLetter as boolean,
      to: list(args.to),
      cc: list(args.cc),
      maintainers: args.maintainers as boolean,
      corePatch: args.corePatch === undefined ? undefined : path.resolve(cwd, args.corePatch as string),
      date: args.date as string | undefined,
    });
    for (const w of warnings) process.stderr.write(`gupmod: ${w}\n`);
    for (const f of written) out(`${path.join(outDir, path.basename(f))}\n`);
  } catch (e) {
    if (!(e instanceof SeriesError)) throw e;
    process.stderr.write(`gupmod: ${e.message}\n`);
    return EXIT_ERROR;
  }
  return result.problems.length ? EXIT_ERROR : EXIT_OK;
}

main(hideBin(process.argv)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    if (e instanceof UsageError) {
      process.stderr.write(`gupmod: ${e.message}\nTry 'gupmod --help'.\n`);
    } else {
      process.stderr.write(`gupmod: internal error: ${(e as Error).stack ?? e}\n`);
    }
    process.exitCode = EXIT_ERROR;
  },
);
