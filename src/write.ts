/**
 * The write step: atomic per file (temp file in the same directory, then
 * rename), mode kept; a file whose content changed since it was read is not
 * overwritten.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { errText } from './files.js';

export async function writeAtomic(file: string, original: Buffer, text: string): Promise<string | null> {
  const data = Buffer.from(text, 'latin1');
  let st;
  try {
    const now = await fs.readFile(file);
    if (!now.equals(original)) return 'changed on disk since it was read; not overwritten';
    st = await fs.stat(file);
  } catch (e) {
    return errText(e);
  }
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.gupmod-${process.pid}.tmp`);
  try {
    await fs.writeFile(tmp, data, { mode: st.mode & 0o7777, flag: 'wx' });
    await fs.chmod(tmp, st.mode & 0o7777);
    await fs.rename(tmp, file);
    return null;
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    return errText(e);
  }
}
