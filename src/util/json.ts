import { UndistroError } from "./errors.js";

/** JSON with object keys sorted at every level, so equal data always serialises to equal bytes. */
export function sortedJson(value: unknown, indent = 2): string {
  return JSON.stringify(sortKeys(value), null, indent);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object" && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** JSON from outside (a file, a server, a registry): an UndistroError naming `where` instead of a SyntaxError. */
export function parseJsonInput(text: string | Uint8Array, where: string, code = "INPUT_INVALID_JSON"): unknown {
  const s = typeof text === "string" ? text : Buffer.from(text.buffer, text.byteOffset, text.length).toString("utf8");
  try {
    return JSON.parse(s);
  } catch (err) {
    throw new UndistroError(code, `${where}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
}
