/**
 * SPDX 2.3 documents for packages undistro builds: the package (with its purl), what it was built
 * from (recipe, sources with checksums), and the build environment (stage 0: the host's toolchain).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { ValidateFunction } from "ajv";
import Ajv2019 from "ajv/dist/2019.js";
import { sortedJson, UndistroError } from "../util/index.js";

export interface SpdxPackageInput {
  distro: string;
  name: string;
  /** version-rEPOCH */
  fullVersion: string;
  arch: string;
  license: string;
  description?: string;
  url?: string;
  recipe: { path: string; sha256: string };
  sources: Array<{ uri: string; sha256: string; sha512?: string; name: string; version: string; comment?: string }>;
  /** Tools the build used (e.g. the host's gcc for stage 0), with a purl when known. */
  buildTools: Array<{ name: string; version: string; purl?: string; comment?: string }>;
  buildEnvironmentComment: string;
  created: Date;
  toolVersion: string;
}

function spdxId(s: string): string {
  return `SPDXRef-${s.replace(/[^A-Za-z0-9.-]/g, "-")}`;
}

/** SPDX license expression, or NOASSERTION when the recipe gives none. */
function license(expr: string): string {
  return expr.trim() === "" ? "NOASSERTION" : expr.trim();
}

export function apkPurl(distro: string, name: string, fullVersion: string, arch: string): string {
  return `pkg:apk/${encodeURIComponent(distro)}/${encodeURIComponent(name)}@${encodeURIComponent(fullVersion)}?arch=${encodeURIComponent(arch)}&distro=${encodeURIComponent(distro)}`;
}

/** What an image's os-release says of its distribution (`ID`, `VERSION_ID`). */
export interface DistroRelease {
  id: string;
  versionId?: string;
}

/**
 * The purl of a package installed in an image, as scanners derive it from the image (syft, and grype
 * after it): the namespace is os-release's `ID`, the `distro` qualifier `ID-VERSION_ID`, and `upstream`
 * names the origin of a subpackage. Qualifiers sorted by key, as the purl spec asks.
 */
export function installedApkPurl(release: DistroRelease, pkg: { name: string; version: string; arch: string; origin?: string }): string {
  const id = release.id.toLowerCase();
  const qualifiers: Array<[string, string]> = [
    ["arch", pkg.arch],
    ["distro", release.versionId ? `${id}-${release.versionId}` : id],
  ];
  if (pkg.origin && pkg.origin !== pkg.name) qualifiers.push(["upstream", pkg.origin]);
  const query = qualifiers.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
  return `pkg:apk/${encodeURIComponent(id)}/${encodeURIComponent(pkg.name)}@${encodeURIComponent(pkg.version)}?${query}`;
}

/** Parses os-release (KEY=value lines, values optionally quoted with shell escapes). */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let value = m[2] as string;
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.endsWith(quote) && value.length >= 2) {
      value = value.slice(1, -1);
      if (quote === '"') value = value.replace(/\\([\\$"`])/g, "$1");
    }
    out[m[1] as string] = value;
  }
  return out;
}

/** The release an os-release text names, or undefined without an `ID`. */
export function distroRelease(text: string | undefined): DistroRelease | undefined {
  if (text === undefined) return undefined;
  const fields = parseOsRelease(text);
  if (!fields.ID) return undefined;
  return { id: fields.ID, ...(fields.VERSION_ID ? { versionId: fields.VERSION_ID } : {}) };
}

export function packageSpdx(input: SpdxPackageInput): Record<string, unknown> {
  const pkgId = spdxId(`Package-apk-${input.name}-${input.fullVersion}`);
  const recipeId = spdxId(`Recipe-${input.recipe.path}`);
  const envId = spdxId("BuildEnvironment");
  const supplier = `Organization: ${input.distro}`;
  const packages: Array<Record<string, unknown>> = [
    {
      SPDXID: spdxId("OperatingSystem"),
      name: input.distro,
      filesAnalyzed: false,
      licenseConcluded: "NOASSERTION",
      licenseDeclared: "NOASSERTION",
      description: "Operating System",
      downloadLocation: "NOASSERTION",
      originator: supplier,
      supplier,
      primaryPackagePurpose: "OPERATING_SYSTEM",
    },
    {
      SPDXID: pkgId,
      name: input.name,
      versionInfo: input.fullVersion,
      filesAnalyzed: false,
      licenseConcluded: "NOASSERTION",
      licenseDeclared: license(input.license),
      downloadLocation: "NOASSERTION",
      originator: supplier,
      supplier,
      copyrightText: "NOASSERTION",
      primaryPackagePurpose: "APPLICATION",
      ...(input.description ? { description: input.description } : {}),
      ...(input.url ? { homepage: input.url } : {}),
      externalRefs: [
        { referenceCategory: "PACKAGE-MANAGER", referenceType: "purl", referenceLocator: apkPurl(input.distro, input.name, input.fullVersion, input.arch) },
      ],
    },
    {
      SPDXID: recipeId,
      name: input.recipe.path,
      versionInfo: input.recipe.sha256,
      filesAnalyzed: false,
      licenseConcluded: "NOASSERTION",
      licenseDeclared: "NOASSERTION",
      downloadLocation: "NOASSERTION",
      supplier,
      checksums: [{ algorithm: "SHA256", checksumValue: input.recipe.sha256 }],
      primaryPackagePurpose: "INSTALL",
      comment: "the recipe this package was built from",
    },
    {
      SPDXID: envId,
      name: "build-environment",
      filesAnalyzed: false,
      licenseConcluded: "NOASSERTION",
      licenseDeclared: "NOASSERTION",
      downloadLocation: "NOASSERTION",
      supplier,
      primaryPackagePurpose: "OTHER",
      comment: input.buildEnvironmentComment,
    },
  ];
  const relationships: Array<Record<string, string>> = [
    { spdxElementId: "SPDXRef-DOCUMENT", relationshipType: "DESCRIBES", relatedSpdxElement: pkgId },
    { spdxElementId: pkgId, relationshipType: "DESCRIBED_BY", relatedSpdxElement: recipeId },
    { spdxElementId: envId, relationshipType: "BUILD_TOOL_OF", relatedSpdxElement: pkgId },
  ];
  input.sources.forEach((s, i) => {
    const id = spdxId(`Source-${i}-${s.name}`);
    const checksums = [{ algorithm: "SHA256", checksumValue: s.sha256 }];
    if (s.sha512) checksums.push({ algorithm: "SHA512", checksumValue: s.sha512 });
    packages.push({
      SPDXID: id,
      name: s.name,
      versionInfo: s.version,
      filesAnalyzed: false,
      licenseConcluded: "NOASSERTION",
      licenseDeclared: license(input.license),
      downloadLocation: s.uri,
      supplier,
      checksums,
      primaryPackagePurpose: "SOURCE",
      externalRefs: [
        {
          referenceCategory: "PACKAGE-MANAGER",
          referenceType: "purl",
          referenceLocator: `pkg:generic/${encodeURIComponent(s.name)}@${encodeURIComponent(s.version)}?download_url=${encodeURIComponent(s.uri)}&checksum=sha256:${s.sha256}`,
        },
      ],
      ...(s.comment ? { comment: s.comment } : {}),
    });
    relationships.push({ spdxElementId: pkgId, relationshipType: "GENERATED_FROM", relatedSpdxElement: id });
  });
  input.buildTools.forEach((t, i) => {
    const id = spdxId(`BuildTool-${i}-${t.name}`);
    packages.push({
      SPDXID: id,
      name: t.name,
      versionInfo: t.version,
      filesAnalyzed: false,
      licenseConcluded: "NOASSERTION",
      licenseDeclared: "NOASSERTION",
      downloadLocation: "NOASSERTION",
      primaryPackagePurpose: "APPLICATION",
      ...(t.purl ? { externalRefs: [{ referenceCategory: "PACKAGE-MANAGER", referenceType: "purl", referenceLocator: t.purl }] } : {}),
      ...(t.comment ? { comment: t.comment } : {}),
    });
    relationships.push({ spdxElementId: envId, relationshipType: "CONTAINS", relatedSpdxElement: id });
  });
  const body = { name: `apk-${input.name}-${input.fullVersion}`, packages, relationships };
  // The namespace must be unique per document and stable per content: derived from the content.
  const digest = createHash("sha256").update(sortedJson(body)).digest("hex").slice(0, 32);
  return {
    SPDXID: "SPDXRef-DOCUMENT",
    spdxVersion: "SPDX-2.3",
    dataLicense: "CC0-1.0",
    name: body.name,
    documentNamespace: `https://spdx.undistro.invalid/${encodeURIComponent(input.distro)}/${encodeURIComponent(body.name)}-${digest}`,
    creationInfo: {
      created: input.created.toISOString().replace(/\.\d{3}Z$/, "Z"),
      creators: [`Tool: undistro-${input.toolVersion}`, `Organization: ${input.distro}`],
      licenseListVersion: "3.22",
    },
    documentDescribes: [pkgId],
    packages,
    relationships,
  };
}

let spdxValidator: ValidateFunction | undefined;

/** Validates a document against the SPDX 2.3 JSON schema; throws naming the first problems. */
export function validateSpdx(doc: unknown, where: string): void {
  if (spdxValidator === undefined) {
    const schema = JSON.parse(readFileSync(fileURLToPath(new URL("../../../schemas/spdx-2.3.schema.json", import.meta.url)), "utf8"));
    const ajv = new Ajv2019.default({ allErrors: true, strict: false });
    spdxValidator = ajv.compile(schema);
  }
  if (!spdxValidator(doc)) {
    const errs = (spdxValidator.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || "/"} ${e.message}`);
    throw new UndistroError("SBOM_INVALID", `${where}: SPDX document does not match the SPDX 2.3 schema: ${errs.join("; ")}`);
  }
}

export function formatSpdx(doc: Record<string, unknown>): string {
  return `${sortedJson(doc)}\n`;
}
