/**
 * gupmod's public API: `run(options)` walks, prefilters, parses, matches,
 * rewrites and verifies, and returns what it found (src/run.ts); it never
 * prints. `processText` is the engine on one file's text.
 */
export type { Site, Edit, Transform, Category, Action } from './types.js';
export type { FileResult } from './engine.js';
export type { FileProblem } from './files.js';
export { TRANSFORMS } from '../transforms/index.js';
export { processText } from './engine.js';
export { displayPath } from './files.js';
export { workerScript } from './pool.js';
export { run, selectTransforms, UsageError, type RunOptions, type RunResult, type Progress, type ChangedFile } from './run.js';
