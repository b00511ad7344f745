/**
 * What gupmod knows about the GUP family, in one table every transform shares:
 * where each argument sits in each variant and kernel generation, and which
 * functions release pinned pages.
 */

/** Argument positions of one GUP call shape. */
export interface GupSignature {
  /** Total number of arguments in this shape. */
  arity: number;
  start: number;
  count: number;
  flags: number;
  pages: number;
  vmas?: number;
  locked?: number;
  mm?: number;
  /** Which kernels use this shape. */
  generation: string;
}

export interface GupApi {
  name: string;
  /** Pins (FOLL_PIN, released with unpin_user_page*) or gets references (put_page). */
  kind: 'pin' | 'get';
  /** Never rewritten: *_fast_only must not sleep or fault, so no FOLL_COMPLETE. */
  rewritable: boolean;
  signatures: GupSignature[];
}

const fast = (name: string, kind: 'pin' | 'get', rewritable = true): GupApi => ({
  name,
  kind,
  rewritable,
  signatures: [{ arity: 4, start: 0, count: 1, flags: 2, pages: 3, generation: 'all' }],
});

const plain = (name: string, kind: 'pin' | 'get'): GupApi => ({
  name,
  kind,
  rewritable: true,
  signatures: [
    { arity: 5, start: 0, count: 1, flags: 2, pages: 3, vmas: 4, generation: 'before 6.5' },
    { arity: 4, start: 0, count: 1, flags: 2, pages: 3, generation: '6.5 and later' },
  ],
});

const unlocked = (name: string, kind: 'pin' | 'get'): GupApi => ({
  name,
  kind,
  rewritable: true,
  signatures: [{ arity: 4, start: 0, count: 1, pages: 2, flags: 3, generation: 'all' }],
});

const remote = (name: string, kind: 'pin' | 'get'): GupApi => ({
  name,
  kind,
  rewritable: true,
  signatures: [
    { arity: 8, mm: 1, start: 2, count: 3, flags: 4, pages: 5, vmas: 6, locked: 7, generation: 'before 5.9 (task first)' },
    { arity: 7, mm: 0, start: 1, count: 2, flags: 3, pages: 4, vmas: 5, locked: 6, generation: '5.9 to 6.4' },
    { arity: 6, mm: 0, start: 1, count: 2, flags: 3, pages: 4, locked: 5, generation: '6.5 and later' },
  ],
});

const locked = (name: string, kind: 'pin' | 'get'): GupApi => ({
  name,
  kind,
  rewritable: true,
  signatures: [{ arity: 5, start: 0, count: 1, flags: 2, pages: 3, locked: 4, generation: 'all' }],
});

export const GUP_APIS: readonly GupApi[] = [
  plain('get_user_pages', 'get'),
  fast('get_user_pages_fast', 'get'),
  fast('get_user_pages_fast_only', 'get', false),
  locked('get_user_pages_locked', 'get'),
  remote('get_user_pages_remote', 'get'),
  unlocked('get_user_pages_unlocked', 'get'),
  plain('pin_user_pages', 'pin'),
  fast('pin_user_pages_fast', 'pin'),
  fast('pin_user_pages_fast_only', 'pin', false),
  locked('pin_user_pages_locked', 'pin'),
  remote('pin_user_pages_remote', 'pin'),
  unlocked('pin_user_pages_unlocked', 'pin'),
];

const byName = new Map(GUP_APIS.map((a) => [a.name, a]));

export function gupApi(name: string): GupApi | undefined {
  return byName.get(name);
}

/** The signature matching a call with `argc` arguments, if any. */
export function signatureFor(api: GupApi, argc: number): GupSignature | undefined {
  return api.signatures.find((s) => s.arity === argc);
}

/** Identifiers whose presence in a file's bytes makes it a candidate. */
export const GUP_TRIGGERS: readonly string[] = ['get_user_pages', 'pin_user_pages'];

/** Releases of an array of pages: `fn(pages, count, ...)`. */
export const ARRAY_RELEASES: ReadonlyMap<string, { pages: number; count: number }> = new Map([
  ['unpin_user_pages', { pages: 0, count: 1 }],
  ['unpin_user_pages_dirty_lock', { pages: 0, count: 1 }],
  ['release_pages', { pages: 0, count: 1 }],
  ['put_user_pages', { pages: 0, count: 1 }],
  ['put_user_pages_dirty_lock', { pages: 0, count: 1 }],
]);

/** Releases of one page: `fn(page)`, used in a loop over the array. */
export const PAGE_RELEASES: ReadonlySet<string> = new Set([
  'put_page',
  'unpin_user_page',
  'put_user_page',
]);

/** Lock calls that may bracket a GUP call inside a loop. */
export const LOCK_CALLS: ReadonlySet<string> = new Set([
  'mmap_read_lock',
  'mmap_read_unlock',
  'mmap_write_lock',
  'mmap_write_unlock',
  'down_read',
  'up_read',
]);

export const COMPLETE_FLAG = 'FOLL_COMPLETE';
