import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Path of a schema shipped in the repository's schemas/ directory. */
export function schemaPath(name: string): string {
  return fileURLToPath(new URL(`../../../schemas/${name}`, import.meta.url));
}

export function readSchema(name: string): unknown {
  return JSON.parse(readFileSync(schemaPath(name), "utf8"));
}

/**
 * melange's and apko's schemas are generated from Go structs: every field without `omitempty` is
 * listed as required (Go's YAML decoder requires none), and untagged field names are capitalised
 * (the decoder matches them lower-cased). Adapted so a schema accepts what the Go tool accepts.
 */
export function adaptGoSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(adaptGoSchema);
  if (node === null || typeof node !== "object") return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === "required") continue;
    if (k === "properties" && v !== null && typeof v === "object") {
      const props: Record<string, unknown> = {};
      for (const [name, def] of Object.entries(v)) {
        props[name] = adaptGoSchema(def);
        if (/^[A-Z]/.test(name)) props[name.toLowerCase()] = adaptGoSchema(def);
      }
      out[k] = props;
    } else out[k] = adaptGoSchema(v);
  }
  return out;
}
