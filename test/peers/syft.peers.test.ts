// syft (pinned in scripts/peers.txt) on an image of undistro's own packages, from an OCI layout and from
// undistro's registry: it must recognise the distribution from /etc/os-release and find exactly the
// packages undistro's SBOM lists, with the same name, version, arch and purl. Where syft's SPDX and
// CycloneDX differ from undistro's otherwise, docs/sbom.md lists and justifies each difference.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse, stringify } from "yaml";
import { RegistryServer, type RunningRegistry } from "../../src/registry/index.js";
import { BIN, REPO_ROOT, tempDir } from "../helpers.js";
import { peer, runPeer } from "./helpers.js";

/** Two recipes of the distro (no compiler needed), built with the host's tools: the environment's
 * package list is dropped so the test needs no busybox build first. */
const RECIPES = ["undistro-baselayout", "ca-certificates-bundle"];

interface SyftArtifact {
  type: string;
  name: string;
  version: string;
  purl: string;
  metadata: { architecture?: string };
}

describe("syft on undistro's images", () => {
  let reg: RunningRegistry;
  let layout: string;
  let ourSpdx: { packages: Array<{ name: string; versionInfo: string; externalRefs?: Array<{ referenceType: string; referenceLocator: string }> }> };
  const undistro = (...args: string[]) => runPeer(BIN, args, { timeoutMs: 600_000 });
  const syft = (...args: string[]) => runPeer(peer("syft"), args, { env: { SYFT_CHECK_FOR_APP_UPDATE: "false", SYFT_REGISTRY_INSECURE_USE_HTTP: "true" } });

  before(async () => {
    const dir = tempDir();
    const key = join(dir, "keys/undistro");
    assert.equal((await undistro("keygen", "--apk", key)).status, 0);
    const repo = join(dir, "repo");
    for (const name of RECIPES) {
      const recipe = parse(readFileSync(join(REPO_ROOT, "distro/packages", `${name}.yaml`), "utf8"));
      delete recipe.environment;
      const copy = join(dir, `${name}.yaml`);
      writeFileSync(copy, stringify(recipe));
      const b = await undistro("build", copy, "--out", repo, "--signing-key", `${key}.rsa`, "--pipeline-dir", join(REPO_ROOT, "pipelines"));
      assert.equal(b.status, 0, b.stderr);
    }
    const config = join(dir, "image.yaml");
    writeFileSync(config, stringify({ contents: { keyring: [`${key}.rsa.pub`], repositories: [repo], packages: RECIPES }, archs: ["x86_64"] }));
    layout = join(dir, "layout");
    const built = await undistro("image", "build", config, "--out", layout);
    assert.equal(built.status, 0, built.stderr);
    ourSpdx = JSON.parse(readFileSync(join(layout, "sboms/sbom-x86_64.spdx.json"), "utf8"));
    reg = await new RegistryServer({ root: join(dir, "registry") }).listen();
    const pushed = await undistro("push", `oci:${layout}`, `127.0.0.1:${reg.port}/peers/syft:v1`);
    assert.equal(pushed.status, 0, pushed.stderr);
  });
  after(() => reg?.close());

  /** name → purl of every apk package in undistro's image SBOM. */
  const ours = () =>
    new Map(
      ourSpdx.packages
        .map((p) => [p.name, p.externalRefs?.find((r) => r.referenceType === "purl")?.referenceLocator ?? ""] as const)
        .filter(([, purl]) => purl.startsWith("pkg:apk/")),
    );

  for (const source of ["oci-dir", "registry"] as const) {
    it(`${source}: the distro from /etc/os-release, and exactly the SBOM's packages (name, version, arch, purl)`, async (t) => {
      const target = source === "oci-dir" ? `oci-dir:${layout}` : `registry:127.0.0.1:${reg.port}/peers/syft:v1`;
      const out = join(tempDir(t), "syft.json");
      const r = await syft("scan", target, "--platform", "linux/amd64", "-o", `syft-json=${out}`, "-q");
      assert.equal(r.status, 0, r.stderr);
      const doc = JSON.parse(readFileSync(out, "utf8")) as { distro: { id: string; versionID: string }; artifacts: SyftArtifact[] };
      assert.equal(doc.distro.id, "undistro");
      assert.equal(doc.distro.versionID, "0.1");
      const found = doc.artifacts.filter((a) => a.type === "apk");
      assert.deepEqual(found.map((a) => a.name).sort(), [...RECIPES].sort());
      assert.deepEqual(
        doc.artifacts.filter((a) => a.type !== "apk"),
        [],
        "nothing but the apk database's packages",
      );
      const expected = ours();
      for (const a of found) {
        assert.equal(a.purl, expected.get(a.name), `${a.name}: syft's purl is undistro's`);
        assert.equal(a.metadata.architecture, "x86_64");
        const spdx = ourSpdx.packages.find((p) => p.name === a.name);
        assert.equal(a.version, spdx?.versionInfo);
      }
    });
  }

  it("syft's own SPDX and CycloneDX name the same purls as undistro's SBOMs", async (t) => {
    const dir = tempDir(t);
    mkdirSync(dir, { recursive: true });
    const r = await syft("scan", `oci-dir:${layout}`, "-o", `spdx-json=${join(dir, "s.spdx.json")}`, "-o", `cyclonedx-json=${join(dir, "s.cdx.json")}`, "-q");
    assert.equal(r.status, 0, r.stderr);
    const spdx = JSON.parse(readFileSync(join(dir, "s.spdx.json"), "utf8")) as typeof ourSpdx;
    const theirPurls = spdx.packages.flatMap((p) => p.externalRefs?.filter((x) => x.referenceType === "purl").map((x) => x.referenceLocator) ?? []);
    assert.deepEqual(theirPurls.filter((p) => p.startsWith("pkg:apk/")).sort(), [...ours().values()].sort());
    // The image itself: the same manifest digest and architecture (its name is the scanned path for syft).
    const imagePurl = (purls: string[]) => purls.find((p) => p.startsWith("pkg:oci/"))?.replace(/^pkg:oci\/[^@]+/, "");
    const ourPurls = ourSpdx.packages.flatMap((p) => p.externalRefs?.map((x) => x.referenceLocator) ?? []);
    assert.equal(imagePurl(theirPurls), imagePurl(ourPurls));
    const cdx = JSON.parse(readFileSync(join(dir, "s.cdx.json"), "utf8")) as { components: Array<{ purl?: string }> };
    const ourCdx = JSON.parse(readFileSync(join(layout, "sboms/sbom-x86_64.cdx.json"), "utf8")) as typeof cdx;
    const purls = (d: typeof cdx) =>
      d.components
        .map((c) => c.purl)
        .filter((p): p is string => p?.startsWith("pkg:apk/") ?? false)
        .sort();
    assert.deepEqual(purls(cdx), purls(ourCdx));
  });
});
