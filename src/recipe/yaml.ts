/**
 * YAML → plain data, keeping what melange's Go decoder would keep: every scalar as written (so a
 * version `1.10` stays "1.10", not the number 1.1), empty and `null` values as null. Types are
 * coerced later against the schema. Also maps a data path back to its line in the file.
 */
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, Scalar } from "yaml";
import { UndistroError } from "../util/index.js";

export interface YamlFile {
  path: string;
  data: unknown;
  /** Line (1-based) of the node at a data path like ["pipeline", 0, "with"], when known. */
  lineOf(path: ReadonlyArray<string | number>): number | undefined;
}

function toData(node: Node | null | undefined): unknown {
  if (node === null || node === undefined) return null;
  if (isScalar(node)) {
    const v = node.value;
    if (node.type === Scalar.PLAIN && (v === "" || v === "~" || v === "null" || v === "Null" || v === "NULL")) return null;
    return v;
  }
  if (isMap(node)) {
    const out: Record<string, unknown> = {};
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      out[key] = toData(pair.value as Node | null);
    }
    return out;
  }
  if (isSeq(node)) return node.items.map((n) => toData(n as Node));
  return null;
}

export function parseYamlFile(text: string, path: string): YamlFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { schema: "failsafe", lineCounter, uniqueKeys: true, prettyErrors: true });
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0];
    const first = (err.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "");
    throw new UndistroError("YAML_INVALID", `${path}${pos ? `:${pos.line}:${pos.col}` : ""}: ${first}`);
  }
  return {
    path,
    data: toData(doc.contents as Node | null),
    lineOf(p) {
      const node = doc.getIn(p as Array<string | number>, true) as Node | undefined;
      const offset = node?.range?.[0];
      if (offset === undefined) return undefined;
      return lineCounter.linePos(offset).line;
    },
  };
}

/** "pipeline[0].with.uri" from ["pipeline", 0, "with", "uri"]. */
export function formatPath(path: ReadonlyArray<string | number>): string {
  let s = "";
  for (const p of path) s += typeof p === "number" ? `[${p}]` : s === "" ? p : `.${p}`;
  return s || "(document)";
}
