import type { ParsedFile } from './parse/index.js';

/** A text edit on a file's latin1 string: replace [start, end) with `text`. */
export interface Edit {
  start: number;
  end: number;
  text: string;
}

export type Category =
  | 'retry-loop'
  | 'count-check'
  | 'chunked-loop'
  | 'partial-ok'
  | 'single-page'
  | 'unknown';

export type Action = 'rewrite' | 'review' | 'leave';

export type Bug = 'missing-unpin';

/** One GUP call site, as reported. */
export interface Site {
  file: string;
  line: number;
  column: number;
  function: string | null;
  api: string;
  category: Category;
  action: Action;
  bugs: Bug[];
  reason: string;
  /** Id of the transform that classified the site ('gup' for the fallback). */
  transform: string;
}

/** What a transform's match step returns: the site, and what rewrite needs. */
export interface Match<P = unknown> {
  site: Site;
  /** Offset of the GUP call; identifies the site across runs. */
  callStart: number;
  /** Enclosing function's [start, end), for verification. */
  fnRange: [number, number] | null;
  /** Present when the transform believes it can rewrite. */
  plan?: P;
}

/** A rewrite: edits plus the names of variables it removes. */
export interface Rewrite {
  edits: Edit[];
  /** Variables whose declarations the rewrite deletes: no use may remain. */
  removed: string[];
  /** Reason for the site, replacing the match's reason when given. */
  reason?: string;
}

/** A rewrite withheld: the site becomes `review` with this reason. */
export interface Refusal {
  refuse: string;
}

export interface TransformMeta {
  /** Equal to the folder name under transforms/. */
  id: string;
  /** One line, fit for a commit subject. */
  summary: string;
  /** What it rewrites. */
  rewrites: string;
  /** What it refuses or leaves alone. */
  refuses: string[];
  /** Help text / URL for report consumers. */
  help: string;
  /** Wording for the commit messages of `gupmod format-patch` (README, "Patch series"). */
  commitText?: CommitText;
}

/**
 * Commit message wording for a transform's rewrites. Placeholders: {function},
 * {api} (with `()`), {apis}, {what} (the reason's first `; ` clause),
 * {notes} (the later clauses, less `omit`), {reason}, {s} ('s' for several
 * sites); `[[...]]` is dropped when a placeholder in it is empty.
 */
export interface CommitText {
  /** The subject after the subsystem prefix. */
  subject: string;
  /** One paragraph per site: what the code did. */
  site: string;
  /** Once per patch: what the rewrite relies on, why the partial release goes. */
  why: string;
  /** Once per patch: the errno a failing call returns. */
  errno?: string;
  /** Per site with bugs: what it fixes. */
  fix?: string;
  /** Once per cover letter: what the series relies on. */
  cover?: string;
  /** Reason clauses the message leaves out ({notes}). */
  omit?: string[];
}

export interface Transform<P = unknown> {
  meta: TransformMeta;
  match(file: ParsedFile): Match<P>[];
  rewrite(match: Match<P>, file: ParsedFile): Rewrite | Refusal;
}

export function defineTransform<P>(t: Transform<P>): Transform<P> {
  return t;
}

export function isRefusal(r: Rewrite | Refusal): r is Refusal {
  return (r as Refusal).refuse !== undefined;
}
