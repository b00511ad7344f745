/** The registry of transforms, sorted by id. */
import type { Transform } from '../src/types.js';
import retryLoop from './retry-loop/index.js';

export const TRANSFORMS: readonly Transform<any>[] = [retryLoop];

export function transformById(id: string): Transform<any> | undefined {
  return TRANSFORMS.find((t) => t.meta.id === id);
}
