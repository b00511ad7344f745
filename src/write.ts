/**
 * The write step: atomic per file (temp file in the same directory, written
 * and synced, then renamed over the original), mode kept (and, when run as
 * root, owner and group); a file whose content changed since it was read is
 * not overwritten.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { errText } from './files.js';

/**
 * Replace `file` with `text` (latin1) if it still holds `original`. Returns
 * null when written, else why not, in a few words; the file is then as it
 * was and no temporary file is left.
 */
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
  const mode = st.mode & 0o7777;
  // A name no other run (nor a stale file of an earlier one) holds: 'wx' refuses to reuse one.
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.gupmod-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  let created = false;
  try {
    const fh = await fs.open(tmp, 'wx', mode);
    created = true;
    try {
      await fh.writeFile(data);
      await fh.chmod(mode);
      if (process.getuid?.() === 0 && (st.uid !== 0 || st.gid !== 0)) await fh.chown(st.uid, st.gid);
      // On disk before the rename, so that a crash leaves the old file or the new one.
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, file);
    return null;
  } catch (e) {
    if (created) await fs.rm(tmp, { force: true }).catch(() => undefined);
    return errText(e);
  }
}
