/** Locating the real Linux tree the integration tests read where it is installed. */
import { existsSync } from 'node:fs';

export const KERNEL_TREE = process.env.GUPMOD_KERNEL_TREE ?? '/usr/src/linux-source-6.1';

export function requireKernelTree(): string {
  if (!existsSync(`${KERNEL_TREE}/mm/gup.c`)) {
    throw new Error(
      `no Linux tree at ${KERNEL_TREE}: install it with\n` +
        '  apt-get update && apt-get install -y linux-source-6.1 && tar -C /usr/src -xf /usr/src/linux-source-6.1.tar.xz\n' +
        'or point GUPMOD_KERNEL_TREE at an unpacked tree',
    );
  }
  return KERNEL_TREE;
}
