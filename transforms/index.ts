/** The registry of transforms, sorted by id. */
import type { Transform } from '../src/types.js';
import countCheck from './count-check/index.js';
import retryLoop from './retry-loop/index.js';

export const TRANSFORMS: readonly Transform<any>[] = [countCheck, retryLoop];

export function transformById(id: string): Transform<any> | undefined {
  return TRANSFORMS.find((t) => t.meta.id === id);
}
