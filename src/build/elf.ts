/**
 * A small ELF reader: enough to find what a binary needs at run time (DT_NEEDED, the program
 * interpreter, RPATH/RUNPATH) and what a library offers (DT_SONAME). Written here because no
 * maintained npm package reads ELF dynamic sections without native code; it parses only headers,
 * bounds-checked, and returns null for anything that is not a well-formed ELF.
 */

export interface ElfInfo {
  class: 32 | 64;
  littleEndian: boolean;
  /** ET_EXEC (2) or ET_DYN (3) etc. */
  type: number;
  machine: number;
  interpreter?: string;
  needed: string[];
  soname?: string;
  rpath: string[];
  runpath: string[];
  /** Has a PT_DYNAMIC segment (dynamically linked). */
  dynamic: boolean;
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_STRSZ = 10;
const DT_SONAME = 14;
const DT_RPATH = 15;
const DT_RUNPATH = 29;

export function isElf(buf: Uint8Array): boolean {
  return buf.length >= 4 && buf[0] === 0x7f && buf[1] === 0x45 && buf[2] === 0x4c && buf[3] === 0x46;
}

export function readElf(input: Uint8Array): ElfInfo | null {
  if (!isElf(input) || input.length < 52) return null;
  const buf = Buffer.from(input.buffer, input.byteOffset, input.length);
  const cls = buf[4];
  const data = buf[5];
  if ((cls !== 1 && cls !== 2) || (data !== 1 && data !== 2)) return null;
  const is64 = cls === 2;
  const le = data === 1;
  const u16 = (o: number) => (o + 2 <= buf.length ? (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o)) : -1);
  const u32 = (o: number) => (o + 4 <= buf.length ? (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o)) : -1);
  const u64 = (o: number) => {
    if (o + 8 > buf.length) return -1;
    const v = le ? buf.readBigUInt64LE(o) : buf.readBigUInt64BE(o);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(v);
  };
  const word = is64 ? u64 : u32;
  const type = u16(16);
  const machine = u16(18);
  const phoff = is64 ? u64(32) : u32(28);
  const phentsize = u16(is64 ? 54 : 42);
  const phnum = u16(is64 ? 56 : 44);
  if (phoff < 0 || phentsize <= 0 || phnum < 0 || phoff + phentsize * phnum > buf.length) return null;
  const info: ElfInfo = { class: is64 ? 64 : 32, littleEndian: le, type, machine, needed: [], rpath: [], runpath: [], dynamic: false };
  const loads: Array<{ vaddr: number; offset: number; filesz: number }> = [];
  let dyn: { offset: number; size: number } | undefined;
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    const ptype = u32(p);
    const offset = is64 ? u64(p + 8) : u32(p + 4);
    const vaddr = is64 ? u64(p + 16) : u32(p + 8);
    const filesz = is64 ? u64(p + 32) : u32(p + 16);
    if (offset < 0 || filesz < 0) continue;
    if (ptype === PT_LOAD) loads.push({ vaddr, offset, filesz });
    else if (ptype === PT_INTERP && offset + filesz <= buf.length) {
      info.interpreter = buf.toString("latin1", offset, offset + filesz).replace(/\0.*$/s, "");
    } else if (ptype === PT_DYNAMIC) dyn = { offset, size: filesz };
  }
  if (dyn === undefined || dyn.offset + dyn.size > buf.length) return info;
  info.dynamic = true;
  const entSize = is64 ? 16 : 8;
  const entries: Array<[number, number]> = [];
  for (let o = dyn.offset; o + entSize <= dyn.offset + dyn.size; o += entSize) {
    const tag = word(o);
    const val = word(o + (is64 ? 8 : 4));
    if (tag === DT_NULL) break;
    entries.push([tag, val]);
  }
  const strtabAddr = entries.find(([t]) => t === DT_STRTAB)?.[1];
  const strsz = entries.find(([t]) => t === DT_STRSZ)?.[1] ?? 0;
  if (strtabAddr === undefined || strtabAddr < 0) return info;
  // DT_STRTAB is a virtual address: map it through the PT_LOAD segment that contains it.
  const seg = loads.find((l) => strtabAddr >= l.vaddr && strtabAddr < l.vaddr + l.filesz);
  const strtab = seg ? seg.offset + (strtabAddr - seg.vaddr) : strtabAddr;
  const str = (off: number): string | undefined => {
    if (off < 0 || (strsz && off >= strsz)) return undefined;
    const start = strtab + off;
    if (start >= buf.length) return undefined;
    const end = buf.indexOf(0, start);
    return buf.toString("utf8", start, end < 0 ? buf.length : end);
  };
  for (const [tag, val] of entries) {
    const s = tag === DT_NEEDED || tag === DT_SONAME || tag === DT_RPATH || tag === DT_RUNPATH ? str(val) : undefined;
    if (s === undefined) continue;
    if (tag === DT_NEEDED) info.needed.push(s);
    else if (tag === DT_SONAME) info.soname = s;
    else if (tag === DT_RPATH) info.rpath.push(...s.split(":").filter(Boolean));
    else if (tag === DT_RUNPATH) info.runpath.push(...s.split(":").filter(Boolean));
  }
  return info;
}
