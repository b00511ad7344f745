/** SARIF 2.1.0 report: one run, rules from the transforms' meta, one result per site. */
import type { Site, TransformMeta } from '../types.js';
import { severityOf, sortSites } from './report.js';

export interface SarifOptions {
  /** Absolute directory the site paths are relative to (becomes %SRCROOT%). */
  root: string;
  version: string;
}

/** The rule for sites no transform claimed (classified and left alone). */
const FALLBACK_RULE: TransformMeta = {
  id: 'gup',
  summary: 'GUP call site classified and left alone',
  rewrites: 'nothing',
  refuses: [],
  help: 'Every get_user_pages*/pin_user_pages* call site, with its category (single-page, chunked-loop, partial-ok, unknown) and the reason it is left alone.',
};

export function sarifReport(sites: Site[], metas: readonly TransformMeta[], opts: SarifOptions): string {
  const rules = [...metas, FALLBACK_RULE];
  const index = new Map(rules.map((r, i) => [r.id, i]));
  const root = opts.root.endsWith('/') ? opts.root : `${opts.root}/`;
  const log = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'gupmod',
            version: opts.version,
            rules: rules.map((r) => ({
              id: r.id,
              name: r.id.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase()),
              shortDescription: { text: r.summary },
              fullDescription: { text: `Rewrites ${r.rewrites}.${r.refuses.length ? ` Leaves alone or reports: ${r.refuses.join('; ')}.` : ''}` },
              help: { text: r.help },
              defaultConfiguration: { level: 'warning' },
            })),
          },
        },
        originalUriBaseIds: {
          SRCROOT: { uri: `file://${encodeURI(root)}` },
        },
        results: sortSites(sites).map((s) => ({
          ruleId: s.transform,
          ruleIndex: index.get(s.transform) ?? rules.length - 1,
          level: severityOf(s),
          message: { text: `${s.api}: ${s.category}, ${s.action}${s.bugs.length ? ` [${s.bugs.join(', ')}]` : ''}: ${s.reason}` },
          locations: [
            {
              physicalLocation: {
                artifactLocation: { uri: encodeURI(s.file), uriBaseId: 'SRCROOT' },
                region: { startLine: s.line, startColumn: s.column },
              },
              ...(s.function ? { logicalLocations: [{ name: s.function, kind: 'function' }] } : {}),
            },
          ],
          properties: { category: s.category, action: s.action, bugs: s.bugs, api: s.api },
        })),
      },
    ],
  };
  return JSON.stringify(log, null, 2) + '\n';
}
