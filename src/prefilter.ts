/** A raw byte search for trigger identifiers, before any decoding or parsing. */

export class Prefilter {
  private readonly needles: Buffer[];
  constructor(triggers: readonly string[]) {
    this.needles = [...new Set(triggers)].map((t) => Buffer.from(t, 'latin1'));
  }
  /** Does `bytes` contain any trigger? */
  matches(bytes: Buffer): boolean {
    return this.needles.some((n) => bytes.includes(n));
  }
}
