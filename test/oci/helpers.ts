import { join } from "node:path";
import { buildImage } from "../../src/image/index.js";
import { MEDIA, OciLayout } from "../../src/oci/index.js";
import { REFERENCE } from "../helpers.js";

export interface PlatformDescriptor {
  digest: string;
  platform?: { architecture: string };
}

/**
 * A two-architecture layout built by undistro from apko's test config, with an SBOM attached to
 * the amd64 manifest the OCI 1.1 way (subject + artifactType), stored only as blobs, as
 * `undistro attest` stores referrers in a layout.
 */
export async function multiArchWithSbom(dir: string): Promise<{ layout: string; platforms: PlatformDescriptor[]; amd64: string; arm64: string; sbom: string }> {
  const layout = join(dir, "multiarch");
  await buildImage(join(REFERENCE, "apko/internal/cli/testdata/apko.yaml"), { outDir: layout, sourceDateEpoch: 0 });
  const oci = new OciLayout(layout);
  const index = JSON.parse(oci.readBlob(oci.readIndex().manifests[0]?.digest as string).toString("utf8")) as { manifests: PlatformDescriptor[] };
  const amd64 = index.manifests.find((m) => m.platform?.architecture === "amd64")?.digest as string;
  const arm64 = index.manifests.find((m) => m.platform?.architecture === "arm64")?.digest as string;
  const empty = oci.writeBlob(Buffer.from("{}"), "application/vnd.oci.empty.v1+json");
  const layer = oci.writeBlob(Buffer.from('{"spdxVersion":"SPDX-2.3"}'), "application/spdx+json");
  const body = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      artifactType: "application/spdx+json",
      config: empty,
      layers: [layer],
      subject: { mediaType: MEDIA.manifest, digest: amd64, size: oci.readBlob(amd64).length },
    }),
  );
  return { layout, platforms: index.manifests, amd64, arm64, sbom: oci.writeBlob(body, MEDIA.manifest).digest };
}
