import zlib from "node:zlib";
import { END_OF_ARCHIVE, encodeEntry, formatPkgInfo, type PackageInfo, type TarHeader } from "../../src/apk/index.js";

export function th(name: string, type: TarHeader["type"], extra: Partial<TarHeader> = {}): TarHeader {
  return {
    name,
    type,
    mode: type === "directory" ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    uname: "root",
    gname: "root",
    mtime: 0,
    size: 0,
    linkname: "",
    pax: {},
    ...extra,
  };
}

/**
 * Hand-assembles an unsigned .apk from raw tar entries, for hostile and malformed inputs that the
 * writer refuses to produce.
 */
export function craftApk(entries: Array<{ header: TarHeader; content?: Buffer }>, info?: PackageInfo | null, controlExtra: Buffer[] = []): Buffer {
  const controlParts: Buffer[] = [];
  if (info !== null) {
    const text = Buffer.from(
      formatPkgInfo(
        info ?? {
          name: "crafted",
          version: "1-r0",
          arch: "x86_64",
          installedSize: 0,
          depends: [],
          provides: [],
          replaces: [],
          installIf: [],
          triggers: [],
          extra: [],
        },
      ),
    );
    controlParts.push(...encodeEntry(th(".PKGINFO", "file", { size: text.length }), text));
  }
  controlParts.push(...controlExtra);
  const data: Buffer[] = [];
  for (const e of entries) data.push(...encodeEntry({ ...e.header, size: e.content?.length ?? 0 }, e.content));
  data.push(END_OF_ARCHIVE);
  return Buffer.concat([zlib.gzipSync(Buffer.concat(controlParts)), zlib.gzipSync(Buffer.concat(data))]);
}
