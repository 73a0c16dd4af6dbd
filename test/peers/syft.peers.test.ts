// syft and the OpenVEX checks (pinned in scripts/peers.txt) on an image of undistro's own packages, from an OCI layout and from
// undistro's registry: it must recognise the distribution from /etc/os-release and find exactly the
// packages undistro's SBOM lists, with the same name, version, arch and purl. Where syft's SPDX and
// CycloneDX differ from undistro's otherwise, docs/sbom.md lists and justifies each difference. Then
// `undistro vex` on the same image: go-vex (vexcheck) validates it and gives each purl syft found the
// status the advisories say, and cosign verifies it as an OpenVEX attestation.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { RegistryServer, type RunningRegistry } from "../../src/registry/index.js";
import { BIN, tempDir } from "../helpers.js";
import { OWN_RECIPES, ownPackagesImage, peer, runPeer, scratchDir, verdictAdvisories } from "./helpers.js";

interface SyftArtifact {
  type: string;
  name: string;
  version: string;
  purl: string;
  metadata: { architecture?: string };
}

/** One advisory per verdict, for the origin of a package in the image. */
const ADVISORIES = verdictAdvisories(
  ["UDA-2222-3333-4444", "UDA-2222-3333-4445", "UDA-2222-3333-4446", "UDA-2222-3333-4447"],
  ["CVE-2099-0001", "CVE-2099-0002", "CVE-2099-0003", "CVE-2099-0004"],
);

describe("syft on undistro's images", () => {
  let reg: RunningRegistry;
  let layout: string;
  let ourSpdx: { packages: Array<{ name: string; versionInfo: string; externalRefs?: Array<{ referenceType: string; referenceLocator: string }> }> };
  const undistro = (...args: string[]) => runPeer(BIN, args, { timeoutMs: 600_000 });
  const syft = (...args: string[]) => runPeer(peer("syft"), args, { env: { SYFT_CHECK_FOR_APP_UPDATE: "false", SYFT_REGISTRY_INSECURE_USE_HTTP: "true" } });

  before(async () => {
    const dir = scratchDir();
    layout = await ownPackagesImage(dir);
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
      assert.deepEqual(found.map((a) => a.name).sort(), [...OWN_RECIPES].sort());
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

  it("OpenVEX: go-vex validates undistro vex, and matches each purl syft found to the advisories' verdicts", async (t) => {
    const dir = tempDir(t);
    mkdirSync(join(dir, "advisories"));
    writeFileSync(join(dir, "advisories/ca-certificates-bundle.advisories.yaml"), ADVISORIES);
    const vex = join(dir, "vex.json");
    const made = await undistro("vex", `oci:${layout}`, "--advisories", join(dir, "advisories"), "--out", vex);
    assert.equal(made.status, 0, made.stderr);
    const scanned = join(dir, "syft.json");
    assert.equal((await syft("scan", `oci-dir:${layout}`, "-o", `syft-json=${scanned}`, "-q")).status, 0);
    const purls = (JSON.parse(readFileSync(scanned, "utf8")) as { artifacts: SyftArtifact[] }).artifacts.map((a) => a.purl);
    const checked = await runPeer(peer("vexcheck"), [vex, ...purls]);
    assert.equal(checked.status, 0, checked.stderr);
    const result = JSON.parse(checked.stdout) as {
      statements: number;
      effective: Array<{ product: string; vulnerability: string; status: string; justification?: string }>;
    };
    assert.equal(result.statements, 4);
    const ca = purls.find((p) => p.includes("/ca-certificates-bundle@"));
    const verdicts = result.effective
      .filter((e) => e.product === ca)
      .map((e) => `${e.vulnerability} ${e.status}${e.justification ? ` ${e.justification}` : ""}`);
    assert.deepEqual(verdicts, [
      "CVE-2099-0001 fixed",
      "CVE-2099-0002 not_affected vulnerable_code_not_in_execute_path",
      "CVE-2099-0003 under_investigation",
      "CVE-2099-0004 affected",
    ]);
    assert.deepEqual(
      result.effective.filter((e) => e.product !== ca),
      [],
      "no statement reaches a package the advisories do not name",
    );
  });

  it("OpenVEX as a signed attestation: undistro vex --attest, verified by cosign (--type openvex) and by undistro", async (t) => {
    const dir = tempDir(t);
    mkdirSync(join(dir, "advisories"));
    writeFileSync(join(dir, "advisories/ca-certificates-bundle.advisories.yaml"), ADVISORIES);
    const env = { UNDISTRO_PASSWORD: "vex", COSIGN_PASSWORD: "vex" };
    assert.equal((await runPeer(BIN, ["keygen", "--cosign", join(dir, "k")], { env })).status, 0);
    const ref = `127.0.0.1:${reg.port}/peers/syft:v1`;
    const made = await runPeer(
      BIN,
      ["vex", ref, "--advisories", join(dir, "advisories"), "--attest", "--key", join(dir, "k.key"), "--out", join(dir, "vex.json")],
      { env },
    );
    assert.equal(made.status, 0, made.stderr);
    const v = await runPeer(
      peer("cosign"),
      ["verify-attestation", "--allow-http-registry", "--insecure-ignore-tlog", "--key", join(dir, "k.pub"), "--type", "openvex", ref],
      {
        env: { ...env, HOME: dir },
      },
    );
    assert.equal(v.status, 0, v.stderr);
    const statement = JSON.parse(Buffer.from((JSON.parse(v.stdout.trim().split("\n")[0] as string) as { payload: string }).payload, "base64").toString("utf8"));
    assert.equal(statement.predicateType, "https://openvex.dev/ns");
    assert.deepEqual(statement.predicate, JSON.parse(readFileSync(join(dir, "vex.json"), "utf8")));
    assert.equal((await runPeer(BIN, ["sign", ref, "--key", join(dir, "k.key")], { env })).status, 0);
    const uv = await runPeer(BIN, ["verify", ref, "--key", join(dir, "k.pub"), "--json"]);
    assert.equal(uv.status, 0, uv.stdout);
    assert.match(uv.stdout, /https:\/\/openvex\.dev\/ns/);
  });

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
