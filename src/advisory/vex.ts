/**
 * OpenVEX (v0.2.0) documents from the distro's advisories, for the packages installed in an image: what
 * scanners read to drop matches the distribution has fixed or found not to apply. Product identifiers
 * are the purls syft derives from the same image (see docs/sbom.md), so grype and trivy can match them.
 */
import { createHash } from "node:crypto";
import { apkPurl, installedApkPurl } from "../sbom/index.js";
import { sortedJson } from "../util/index.js";
import { type Advisory, type AdvisoryDocument, latestEvent, statusAt, VEX_JUSTIFICATION } from "./model.js";
import type { InstalledPackage } from "./scan.js";

export { checkVex } from "../sign/openvex-predicate.js";

export const OPENVEX_CONTEXT = "https://openvex.dev/ns/v0.2.0";

export type VexStatus = "not_affected" | "affected" | "fixed" | "under_investigation";

export interface VexStatement {
  vulnerability: { name: string; aliases?: string[] };
  timestamp: string;
  products: Array<{ "@id": string; identifiers: { purl: string } }>;
  status: VexStatus;
  justification?: string;
  impact_statement?: string;
  action_statement?: string;
  status_notes?: string;
}

export interface VexDocument {
  "@context": string;
  "@id": string;
  author: string;
  timestamp: string;
  version: number;
  tooling: string;
  statements: VexStatement[];
}

export interface VexOptions {
  author: string;
  tooling: string;
  /** The document's IRI; by default one derived from its statements, so equal input gives an equal document. */
  id?: string;
}

/** The purl a scanner gives an installed package: from the image's os-release when known. */
export function packagePurl(p: InstalledPackage): string {
  if (p.purl) return p.purl;
  const pkg = { name: p.name, version: p.version, arch: p.arch ?? "noarch", ...(p.origin ? { origin: p.origin } : {}) };
  return p.release ? installedApkPurl(p.release, pkg) : apkPurl("undistro", pkg.name, pkg.version, pkg.arch);
}

/** The name scanners match on first: a CVE alias, else a GHSA, else the advisory's own id. */
function vulnerabilityOf(adv: Advisory): VexStatement["vulnerability"] {
  const ids = [adv.id, ...adv.aliases];
  const name = ids.find((i) => i.startsWith("CVE-")) ?? ids.find((i) => i.startsWith("GHSA-")) ?? adv.id;
  const aliases = [...new Set(ids.filter((i) => i !== name))].sort();
  return aliases.length ? { name, aliases } : { name };
}

/** What one advisory says of one installed version, in OpenVEX's terms. */
function vexStatus(adv: Advisory, version: string): Omit<VexStatement, "vulnerability" | "timestamp" | "products"> {
  const at = statusAt(adv, version);
  const notes = at.note ? { status_notes: at.note } : {};
  switch (at.status) {
    case "fixed":
      return { status: "fixed", ...notes };
    case "not-affected": {
      const justification = VEX_JUSTIFICATION[at.justification as keyof typeof VEX_JUSTIFICATION];
      return justification
        ? { status: "not_affected", justification, ...(at.note ? { impact_statement: at.note } : {}) }
        : { status: "not_affected", impact_statement: at.note ?? `false positive: ${at.justification}` };
    }
    case "under-investigation":
      return { status: "under_investigation", ...notes };
    case "affected":
      return {
        status: "affected",
        action_statement: at.fixedVersion ? `Update to ${at.fixedVersion} or later.` : "No fix is available yet; the distribution is working on one.",
        ...notes,
      };
    case "pending-upstream-fix":
      return { status: "affected", action_statement: "No fix is available: the distribution is waiting for one from upstream.", ...notes };
    case "fix-not-planned":
      return { status: "affected", action_statement: "The distribution does not plan to fix this; avoid the affected feature or the package.", ...notes };
    case "analysis-not-planned":
      return { status: "affected", action_statement: "The distribution does not plan to analyse this; treat the package as affected.", ...notes };
  }
}

/**
 * One statement per vulnerability and verdict, naming every installed package (of every platform) that
 * verdict covers. Advisories are kept per origin package, so a subpackage gets its origin's advisories.
 */
export function buildVex(packages: readonly InstalledPackage[], docs: readonly AdvisoryDocument[], opts: VexOptions): VexDocument {
  const byPackage = new Map<string, AdvisoryDocument[]>();
  for (const d of docs) byPackage.set(d.package, [...(byPackage.get(d.package) ?? []), d]);
  const grouped = new Map<string, VexStatement>();
  for (const p of packages) {
    const relevant = new Set([...(byPackage.get(p.origin ?? p.name) ?? []), ...(byPackage.get(p.name) ?? [])]);
    for (const doc of relevant) {
      for (const adv of doc.advisories) {
        const statement = {
          vulnerability: vulnerabilityOf(adv),
          timestamp: latestEvent(adv)?.timestamp ?? "1970-01-01T00:00:00Z",
          ...vexStatus(adv, p.version),
        };
        const key = JSON.stringify(statement);
        const entry = grouped.get(key) ?? { ...statement, products: [] };
        const purl = packagePurl(p);
        if (!entry.products.some((x) => x["@id"] === purl)) entry.products.push({ "@id": purl, identifiers: { purl } });
        grouped.set(key, entry);
      }
    }
  }
  const statements = [...grouped.values()]
    .map((s) => ({ ...s, products: s.products.sort((a, b) => a["@id"].localeCompare(b["@id"])) }))
    .sort(
      (a, b) =>
        a.vulnerability.name.localeCompare(b.vulnerability.name) ||
        a.status.localeCompare(b.status) ||
        (a.products[0]?.["@id"] ?? "").localeCompare(b.products[0]?.["@id"] ?? ""),
    );
  const timestamp = statements.reduce((latest, s) => (s.timestamp > latest ? s.timestamp : latest), "1970-01-01T00:00:00Z");
  const id = opts.id ?? `https://openvex.dev/docs/public/vex-${createHash("sha256").update(sortedJson(statements)).digest("hex")}`;
  return { "@context": OPENVEX_CONTEXT, "@id": id, author: opts.author, timestamp, version: 1, tooling: opts.tooling, statements };
}
