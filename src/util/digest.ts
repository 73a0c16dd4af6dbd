import { createHash } from "node:crypto";

export function sha1(data: Uint8Array): Buffer {
  return createHash("sha1").update(data).digest();
}
export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
export function sha1Hex(data: Uint8Array): string {
  return createHash("sha1").update(data).digest("hex");
}
