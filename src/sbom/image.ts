/** SBOMs for images: SPDX 2.3 and CycloneDX 1.5, listing every package with purl, licence and checksum. */
import { createHash } from "node:crypto";
import { apkPurl, type DistroRelease, installedApkPurl } from "./spdx.js";

export interface ImageSbomPackage {
  name: string;
  version: string;
  arch: string;
  license?: string;
  description?: string;
  origin?: string;
  /** The project's home page (`U:`). */
  url?: string;
  /** `Q1…` control checksum; recorded as SHA-1 hex. */
  checksum: string;
  depends: string[];
}

export interface ImageSbomInput {
  distro: string;
  /** The image's os-release: when present, purls are written as scanners derive them from the image. */
  release?: DistroRelease;
  imageName: string;
  /** Manifest digest "sha256:…" of the image for this architecture. */
  imageDigest: string;
  arch: string;
  /** The architecture as OCI names it (amd64 for x86_64), for the image's own `pkg:oci` purl. */
  ociArch?: string;
  packages: ImageSbomPackage[];
  created: Date;
  toolVersion: string;
}

function purlOf(input: ImageSbomInput, p: ImageSbomPackage): string {
  return input.release ? installedApkPurl(input.release, p) : apkPurl(input.distro, p.name, p.version, p.arch);
}

function sha1Hex(q1: string): string {
  return Buffer.from(q1.replace(/^Q1/, ""), "base64").toString("hex");
}

function id(s: string): string {
  return `SPDXRef-${s.replace(/[^A-Za-z0-9.-]/g, "-")}`;
}

function iso(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function imageSpdx(input: ImageSbomInput): Record<string, unknown> {
  const imageId = id(`Image-${input.imageDigest}`);
  const supplier = `Organization: ${input.distro}`;
  const packages: Array<Record<string, unknown>> = [
    {
      SPDXID: imageId,
      name: input.imageName,
      versionInfo: input.imageDigest,
      filesAnalyzed: false,
      licenseConcluded: "NOASSERTION",
      licenseDeclared: "NOASSERTION",
      downloadLocation: "NOASSERTION",
      supplier,
      primaryPackagePurpose: "CONTAINER",
      externalRefs: [
        {
          referenceCategory: "PACKAGE-MANAGER",
          referenceType: "purl",
          referenceLocator: `pkg:oci/${encodeURIComponent(input.imageName)}@${encodeURIComponent(input.imageDigest)}?arch=${input.ociArch ?? input.arch}`,
        },
      ],
    },
  ];
  const relationships: Array<Record<string, string>> = [{ spdxElementId: "SPDXRef-DOCUMENT", relationshipType: "DESCRIBES", relatedSpdxElement: imageId }];
  for (const p of input.packages) {
    const pid = id(`Package-${p.name}-${p.version}`);
    packages.push({
      SPDXID: pid,
      name: p.name,
      versionInfo: p.version,
      filesAnalyzed: false,
      licenseConcluded: "NOASSERTION",
      licenseDeclared: p.license?.trim() ? p.license : "NOASSERTION",
      downloadLocation: "NOASSERTION",
      supplier,
      originator: supplier,
      checksums: [{ algorithm: "SHA1", checksumValue: sha1Hex(p.checksum) }],
      primaryPackagePurpose: "LIBRARY",
      ...(p.description ? { description: p.description } : {}),
      ...(p.origin && p.origin !== p.name ? { sourceInfo: `built from the ${p.origin} recipe` } : {}),
      ...(p.url ? { homepage: p.url } : {}),
      externalRefs: [{ referenceCategory: "PACKAGE-MANAGER", referenceType: "purl", referenceLocator: purlOf(input, p) }],
    });
    relationships.push({ spdxElementId: imageId, relationshipType: "CONTAINS", relatedSpdxElement: pid });
  }
  const body = { name: `sbom-${input.imageName}-${input.arch}`, packages, relationships };
  return {
    SPDXID: "SPDXRef-DOCUMENT",
    spdxVersion: "SPDX-2.3",
    dataLicense: "CC0-1.0",
    name: body.name,
    documentNamespace: `https://spdx.undistro.invalid/images/${encodeURIComponent(input.imageDigest)}`,
    creationInfo: {
      created: iso(input.created),
      creators: [`Tool: undistro-${input.toolVersion}`, `Organization: ${input.distro}`],
      licenseListVersion: "3.22",
    },
    documentDescribes: [imageId],
    packages,
    relationships,
  };
}

/** A UUID derived from content, so the BOM's serial number is reproducible. */
function uuidFrom(s: string): string {
  const h = createHash("sha256").update(s).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((Number.parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}

export function imageCycloneDx(input: ImageSbomInput): Record<string, unknown> {
  const imageRef = `image:${input.imageDigest}`;
  const refOf = (p: ImageSbomPackage) => purlOf(input, p);
  const byName = new Map(input.packages.map((p) => [p.name, p]));
  return {
    bomFormat: "CycloneDX",
    specVersion: "1.5",
    serialNumber: `urn:uuid:${uuidFrom(`${input.imageDigest}/${input.arch}`)}`,
    version: 1,
    metadata: {
      timestamp: iso(input.created),
      tools: { components: [{ type: "application", name: "undistro", version: input.toolVersion }] },
      component: { "bom-ref": imageRef, type: "container", name: input.imageName, version: input.imageDigest },
      supplier: { name: input.distro },
    },
    components: input.packages.map((p) => ({
      "bom-ref": refOf(p),
      type: "library",
      name: p.name,
      version: p.version,
      purl: refOf(p),
      supplier: { name: input.distro },
      hashes: [{ alg: "SHA-1", content: sha1Hex(p.checksum) }],
      ...(p.license?.trim() ? { licenses: [{ expression: p.license }] } : {}),
      ...(p.description ? { description: p.description } : {}),
      ...(p.url ? { externalReferences: [{ type: "website", url: p.url }] } : {}),
    })),
    dependencies: [
      { ref: imageRef, dependsOn: input.packages.map(refOf) },
      ...input.packages.map((p) => ({
        ref: refOf(p),
        dependsOn: p.depends
          .map((d) => byName.get(d.replace(/^!/, "").split(/[<>=~]/)[0] as string))
          .filter((x): x is ImageSbomPackage => x !== undefined)
          .map(refOf),
      })),
    ],
  };
}
