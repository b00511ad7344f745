/** The command line: yargs to options, `run()`, output and exit status. Thin by design. */
import * as path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { TRANSFORMS, UsageError, run, type RunResult } from './index.js';
import { colorDiff, fileDiff } from './output/diff.js';
import { jsonReport, reportable, textReport } from './output/report.js';

const EXIT_OK = 0;
const EXIT_CHECK = 1;
const EXIT_ERROR = 2;

function out(s: string): void {
  process.stdout.write(Buffer.from(s, 'latin1'));
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
    .option('write', { alias: 'w', type: 'boolean', default: false, describe: 'apply the rewrites in place (atomic per file)' })
    .option('check', { type: 'boolean', default: false, describe: 'exit 1 when any rewrite would be made; write nothing' })
    .option('report', { alias: 'r', type: 'boolean', default: false, describe: 'print findings instead of a diff' })
    .option('all', { type: 'boolean', default: false, describe: 'with --report: every GUP call site, including those left alone' })
    .option('format', { choices: ['text', 'json'] as const, default: 'text' as const, describe: 'report format' })
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
  if (cmd !== undefined) throw new UsageError(`unknown command '${cmd}'`);
  if (args.write && args.check) throw new UsageError('--write and --check exclude each other');
  if (args.all && !args.report) throw new UsageError('--all goes with --report');
  const cwd = path.resolve(args.C ?? '.');
  const paths = (args.paths as string[] | undefined) ?? ['.'];
  const progress = progressPrinter(!args.quiet && process.stderr.isTTY === true);
  let result: RunResult;
  try {
    result = await run({
      paths,
      cwd,
      transforms: args.transform === undefined ? undefined : ([] as string[]).concat(args.transform),
      write: args.write,
      noPrefilter: !args.prefilter,
      onProgress: progress.update,
    });
  } finally {
    progress.done();
  }
  for (const p of result.problems) process.stderr.write(`gupmod: ${p.path}: ${p.reason}\n`);
  if (args.report) {
    const sites = reportable(result.sites, args.all);
    out(args.format === 'json' ? jsonReport(sites) : textReport(sites));
  } else if (!args.write && !args.check) {
    const color = args.color === 'always' || (args.color === 'auto' && process.stdout.isTTY === true);
    for (const c of result.changed) {
      const d = fileDiff(c.path, c.before, c.after);
      out(color ? colorDiff(d) : d);
    }
  }
  if (result.problems.length) return EXIT_ERROR;
  if (args.check && result.changed.length) return EXIT_CHECK;
  return EXIT_OK;
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
