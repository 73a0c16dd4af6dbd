/**
 * A package's identity as apk-tools compares it: the bytes of its `C:` checksum, not the text.
 * `Q1` + 28 base64 characters carry a 20-byte SHA-1 in 162 bits, so the last character's two low
 * bits are padding that decoders drop: `…ysE=` and `…ysF=` are the same package to apk, which keeps
 * the first record it reads and merges the second into it (apk-tools' own installif1.repo relies on
 * this). A 32-digit hex checksum is an MD5 (apk's older form), compared case-insensitively.
 * Anything else is compared as written.
 */
const Q1_SHA1 = /^Q1[A-Za-z0-9+/]{27}=$/;
const HEX_MD5 = /^[0-9A-Fa-f]{32}$/;

export function checksumIdentity(checksum: string): string {
  if (Q1_SHA1.test(checksum)) return `sha1:${Buffer.from(checksum.slice(2), "base64").toString("hex")}`;
  if (HEX_MD5.test(checksum)) return `md5:${checksum.toLowerCase()}`;
  return checksum;
}

/** Whether two checksums name the same package (see checksumIdentity). */
export function sameChecksum(a: string, b: string): boolean {
  return a === b || checksumIdentity(a) === checksumIdentity(b);
}
