/** The OpenVEX predicate shape check (for `attest --type openvex` and `undistro vex`); no imports, so loading it costs nothing. */

/** Why a document is not OpenVEX v0.2.0 as the spec requires it, or undefined. */
export function checkVex(doc: unknown): string | undefined {
  // biome-ignore lint/suspicious/noExplicitAny: a document from outside, inspected field by field
  const d = doc as Record<string, any> | null;
  if (d === null || typeof d !== "object") return "OpenVEX: not a JSON object";
  if (typeof d["@context"] !== "string" || !d["@context"].startsWith("https://openvex.dev/ns")) return "OpenVEX: @context is not https://openvex.dev/ns…";
  for (const field of ["@id", "author", "timestamp"]) if (typeof d[field] !== "string" || d[field] === "") return `OpenVEX: ${field} missing`;
  if (!Number.isInteger(d.version) || d.version < 1) return "OpenVEX: version must be an integer ≥ 1";
  if (!Array.isArray(d.statements)) return "OpenVEX: statements missing";
  for (const [i, s] of d.statements.entries()) {
    const where = `OpenVEX: statements[${i}]`;
    if (typeof s?.vulnerability?.name !== "string") return `${where}: vulnerability.name missing`;
    if (!["not_affected", "affected", "fixed", "under_investigation"].includes(s.status))
      return `${where}: status ${JSON.stringify(s.status)} is not an OpenVEX status`;
    if (s.status === "not_affected" && !s.justification && !s.impact_statement) return `${where}: not_affected needs a justification or an impact_statement`;
    if (s.status === "affected" && !s.action_statement) return `${where}: affected needs an action_statement`;
    if (!Array.isArray(s.products) || s.products.some((p: { "@id"?: unknown }) => typeof p?.["@id"] !== "string")) return `${where}: products need an @id`;
  }
  return undefined;
}
