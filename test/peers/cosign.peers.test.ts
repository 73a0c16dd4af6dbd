// cosign (pinned in scripts/peers.txt) and undistro, both directions, on undistro's registry on loopback
// and on OCI layouts: each verifies what the other signed and attested, in cosign's legacy form (`.sig`,
// `.att` tags) and as Sigstore bundles in OCI 1.1 referrers; each reads the other's key files; a tampered
// signature fails on both sides. Offline throughout: no transparency log, no signing config fetched.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { RegistryServer, type RunningRegistry } from "../../src/registry/index.js";
import { BIN, tempDir } from "../helpers.js";
import { layoutTop, peer, runPeer, scratchDir, undistroLayout } from "./helpers.js";

const PASSWORD = "peer test password";
const SIGN_OFFLINE = ["--tlog-upload=false", "--use-signing-config=false", "--yes"];

describe("cosign and undistro, both directions", () => {
  let reg: RunningRegistry;
  let host: string;
  let layout: string;
  let keys: string;
  let home: string;
  const cosign = (...args: string[]) =>
    runPeer(peer("cosign"), args, { env: { COSIGN_PASSWORD: PASSWORD, HOME: home, TUF_ROOT: join(home, "tuf") }, timeoutMs: 120_000 });
  const undistro = (...args: string[]) => runPeer(BIN, args, { env: { UNDISTRO_PASSWORD: PASSWORD } });
  const onRegistry = (...args: string[]) => [...args, "--allow-http-registry"];
  /** Pushes undistro's layout to a fresh repository and returns `host/repo@digest`. */
  const pushed = async (repo: string) => {
    const r = await undistro("push", `oci:${layout}`, `${host}/${repo}:v1`);
    assert.equal(r.status, 0, r.stderr);
    return `${host}/${repo}@${layoutTop(layout).digest}`;
  };
  const cosignVerify = (ref: string, key: string, ...extra: string[]) => cosign(...onRegistry("verify", "--key", key, "--insecure-ignore-tlog", ...extra, ref));
  const cosignVerifyAtt = (ref: string, key: string, type: string, ...extra: string[]) =>
    cosign(...onRegistry("verify-attestation", "--key", key, "--insecure-ignore-tlog", "--type", type, ...extra, ref));

  before(async () => {
    layout = await undistroLayout();
    reg = await new RegistryServer({ root: join(scratchDir(), "root") }).listen();
    host = `127.0.0.1:${reg.port}`;
    keys = scratchDir();
    home = scratchDir();
    const c = await cosign("generate-key-pair", "--output-key-prefix", join(keys, "by-cosign"));
    assert.equal(c.status, 0, c.stderr);
    const u = await undistro("keygen", "--cosign", join(keys, "by-undistro"));
    assert.equal(u.status, 0, u.stderr);
  });
  after(() => reg.close());

  it("undistro signs and attests; cosign verifies the .sig and the bundle referrer, both attestation types, and its tree lists them", async () => {
    const ref = await pushed("peers/by-undistro");
    const key = join(keys, "by-undistro");
    assert.equal((await undistro("sign", ref, "--key", `${key}.key`)).status, 0);
    for (const [type, predicate] of [
      ["slsaprovenance1", join(layout, "provenance.json")],
      ["spdxjson", join(layout, "sboms/sbom-x86_64.spdx.json")],
    ] as const) {
      const a = await undistro("attest", ref, "--key", `${key}.key`, "--predicate", predicate, "--type", type);
      assert.equal(a.status, 0, a.stderr);
    }
    for (const form of ["--new-bundle-format=false", "--new-bundle-format=true"]) {
      const v = await cosignVerify(ref, `${key}.pub`, form);
      assert.equal(v.status, 0, `cosign verify ${form}: ${v.stderr}`);
      const claims = JSON.parse(v.stdout) as Array<{ critical: { image: { "docker-manifest-digest": string } } }>;
      assert.ok(claims.length >= 1 && claims.every((c) => ref.endsWith(c.critical.image["docker-manifest-digest"])));
      for (const type of ["slsaprovenance1", "spdxjson"]) {
        const va = await cosignVerifyAtt(ref, `${key}.pub`, type, form);
        assert.equal(va.status, 0, `cosign verify-attestation --type ${type} ${form}: ${va.stderr}`);
      }
    }
    const tree = await cosign(...onRegistry("tree", ref));
    assert.equal(tree.status, 0, tree.stderr);
    assert.match(tree.stdout, /Signatures for an image tag: .*\.sig/);
    assert.match(tree.stdout, /Attestations for an image tag: .*\.att/);
    assert.match(tree.stdout, /https:\/\/sigstore\.dev\/cosign\/sign\/v1 artifacts via OCI referrer/);
    assert.match(tree.stdout, /https:\/\/slsa\.dev\/provenance\/v1 artifacts via OCI referrer/);
  });

  it("cosign signs and attests, as bundles and in the legacy form; undistro verify accepts both with cosign's public key", async () => {
    const key = join(keys, "by-cosign");
    for (const form of ["--new-bundle-format=true", "--new-bundle-format=false"]) {
      const ref = await pushed(`peers/by-cosign-${form.endsWith("true") ? "bundle" : "legacy"}`);
      const s = await cosign(...onRegistry("sign", "--key", `${key}.key`, ...SIGN_OFFLINE, form, ref));
      assert.equal(s.status, 0, s.stderr);
      for (const [type, predicate] of [
        ["slsaprovenance1", join(layout, "provenance.json")],
        ["spdxjson", join(layout, "sboms/sbom-x86_64.spdx.json")],
      ] as const) {
        const a = await cosign(...onRegistry("attest", "--key", `${key}.key`, ...SIGN_OFFLINE, form, "--type", type, "--predicate", predicate, ref));
        assert.equal(a.status, 0, a.stderr);
      }
      const v = await undistro("verify", ref, "--key", `${key}.pub`, "--require", "signature,provenance,sbom", "--json");
      assert.equal(v.status, 0, `${form}: ${v.stdout}${v.stderr}`);
      const report = JSON.parse(v.stdout) as { checks: Array<{ kind: string; form?: string; ok: boolean }> };
      const wanted = form.endsWith("true") ? "bundle" : "legacy";
      assert.ok(
        report.checks.some((c) => c.kind === "signature" && c.form === wanted && c.ok),
        `a ${wanted} signature checked: ${v.stdout}`,
      );
      assert.ok(
        report.checks.some((c) => c.kind === "attestation" && c.form === wanted && c.ok),
        `a ${wanted} attestation checked`,
      );
    }
  });

  it("each reads the other's key files: cosign signs with undistro's key, undistro with cosign's", async () => {
    const byUndistroKey = await pushed("peers/undistro-key");
    const s = await cosign(...onRegistry("sign", "--key", join(keys, "by-undistro.key"), ...SIGN_OFFLINE, byUndistroKey));
    assert.equal(s.status, 0, s.stderr);
    assert.equal((await undistro("verify", byUndistroKey, "--key", join(keys, "by-undistro.pub"), "--require", "signature")).status, 0);
    const byCosignKey = await pushed("peers/cosign-key");
    const u = await undistro("sign", byCosignKey, "--key", join(keys, "by-cosign.key"));
    assert.equal(u.status, 0, u.stderr);
    const v = await cosignVerify(byCosignKey, join(keys, "by-cosign.pub"), "--new-bundle-format=false");
    assert.equal(v.status, 0, v.stderr);
  });

  it("layouts: cosign verify --local-image reads undistro's signed layout; undistro verify reads cosign save's", async (t) => {
    const dir = tempDir(t);
    const signed = join(dir, "signed");
    await runPeer("cp", ["-r", layout, signed]);
    const key = join(keys, "by-undistro");
    assert.equal((await undistro("sign", `oci:${signed}`, "--key", `${key}.key`)).status, 0);
    assert.equal(
      (await undistro("attest", `oci:${signed}`, "--key", `${key}.key`, "--predicate", join(layout, "provenance.json"), "--type", "slsaprovenance1")).status,
      0,
    );
    const v = await cosign("verify", "--key", `${key}.pub`, "--insecure-ignore-tlog", "--new-bundle-format=false", "--local-image", signed);
    assert.equal(v.status, 0, v.stderr);
    const va = await cosign(
      "verify-attestation",
      "--key",
      `${key}.pub`,
      "--insecure-ignore-tlog",
      "--new-bundle-format=false",
      "--type",
      "slsaprovenance1",
      "--local-image",
      signed,
    );
    assert.equal(va.status, 0, va.stderr);

    const ref = await pushed("peers/saved");
    const ck = join(keys, "by-cosign");
    for (const args of [
      ["sign", "--key", `${ck}.key`, ...SIGN_OFFLINE, "--new-bundle-format=false", ref],
      [
        "attest",
        "--key",
        `${ck}.key`,
        ...SIGN_OFFLINE,
        "--new-bundle-format=false",
        "--type",
        "slsaprovenance1",
        "--predicate",
        join(layout, "provenance.json"),
        ref,
      ],
    ]) {
      const r = await cosign(...onRegistry(...args));
      assert.equal(r.status, 0, r.stderr);
    }
    const saved = join(dir, "saved");
    const save = await cosign(...onRegistry("save", "--dir", saved, ref));
    assert.equal(save.status, 0, save.stderr);
    const kinds = (JSON.parse(readFileSync(join(saved, "index.json"), "utf8")).manifests as Array<{ annotations: Record<string, string> }>)
      .map((m) => m.annotations.kind)
      .sort();
    assert.deepEqual(kinds, ["dev.cosignproject.cosign/atts", "dev.cosignproject.cosign/imageIndex", "dev.cosignproject.cosign/sigs"]);
    const uv = await undistro("verify", `oci:${saved}`, "--key", `${ck}.pub`, "--require", "signature,provenance");
    assert.equal(uv.status, 0, uv.stdout + uv.stderr);
  });

  it("a tampered signature fails on both sides: the .sig annotation, and the signature inside a bundle referrer", async () => {
    const key = join(keys, "by-undistro");
    const ref = await pushed("peers/tampered-sig");
    assert.equal((await undistro("sign", ref, "--key", `${key}.key`)).status, 0);
    await tamperSignatureTag(`${reg.url}/v2/peers/tampered-sig`, layoutTop(layout).digest);
    assert.notEqual((await cosignVerify(ref, `${key}.pub`, "--new-bundle-format=false")).status, 0, "cosign refuses the tampered .sig");
    const uv = await undistro("verify", ref, "--key", `${key}.pub`, "--json");
    assert.notEqual(uv.status, 0, "undistro refuses the tampered .sig");
    const checks = (JSON.parse(uv.stdout) as { checks: Array<{ kind: string; form?: string; ok: boolean; reason: string }> }).checks;
    assert.ok(
      checks.some((c) => c.kind === "signature" && c.form === "legacy" && !c.ok && /does not verify/.test(c.reason)),
      uv.stdout,
    );

    const ck = join(keys, "by-cosign");
    const bundled = await pushed("peers/tampered-bundle");
    assert.equal((await cosign(...onRegistry("sign", "--key", `${ck}.key`, ...SIGN_OFFLINE, bundled))).status, 0);
    await tamperBundleReferrer(`${reg.url}/v2/peers/tampered-bundle`, layoutTop(layout).digest);
    assert.notEqual((await cosignVerify(bundled, `${ck}.pub`)).status, 0, "cosign refuses the tampered bundle");
    const ub = await undistro("verify", bundled, "--key", `${ck}.pub`);
    assert.notEqual(ub.status, 0, "undistro refuses the tampered bundle");
  });
});

const MANIFEST = "application/vnd.oci.image.manifest.v1+json";

/** Flips one byte of the decoded signature in the `.sig` manifest's annotation and pushes it back. */
async function tamperSignatureTag(repoUrl: string, digest: string): Promise<void> {
  const tag = `${digest.replace(":", "-")}.sig`;
  const manifest = (await (await fetch(`${repoUrl}/manifests/${tag}`, { headers: { Accept: MANIFEST } })).json()) as {
    layers: Array<{ annotations: Record<string, string> }>;
  };
  for (const layer of manifest.layers)
    layer.annotations["dev.cosignproject.cosign/signature"] = flipped(layer.annotations["dev.cosignproject.cosign/signature"] ?? "");
  const put = await fetch(`${repoUrl}/manifests/${tag}`, { method: "PUT", body: JSON.stringify(manifest), headers: { "Content-Type": MANIFEST } });
  assert.equal(put.status, 201, await put.text());
}

/** Replaces the image's bundle referrer by one whose DSSE signature has one byte flipped. */
async function tamperBundleReferrer(repoUrl: string, digest: string): Promise<void> {
  const referrers = (await (await fetch(`${repoUrl}/referrers/${digest}`)).json()) as { manifests: Array<{ digest: string }> };
  for (const r of referrers.manifests) {
    const manifest = (await (await fetch(`${repoUrl}/manifests/${r.digest}`, { headers: { Accept: MANIFEST } })).json()) as {
      layers: Array<{ digest: string; size: number }>;
    };
    const layer = manifest.layers[0];
    assert.ok(layer);
    const bundle = (await (await fetch(`${repoUrl}/blobs/${layer.digest}`)).json()) as { dsseEnvelope: { signatures: Array<{ sig: string }> } };
    for (const s of bundle.dsseEnvelope.signatures) s.sig = flipped(s.sig);
    const body = Buffer.from(JSON.stringify(bundle));
    const blobDigest = `sha256:${createHash("sha256").update(body).digest("hex")}`;
    const up = await fetch(`${repoUrl}/blobs/uploads/?digest=${blobDigest}`, { method: "POST", body });
    assert.equal(up.status, 201);
    manifest.layers[0] = { ...layer, digest: blobDigest, size: body.length };
    const manifestBody = Buffer.from(JSON.stringify(manifest));
    const put = await fetch(`${repoUrl}/manifests/sha256:${createHash("sha256").update(manifestBody).digest("hex")}`, {
      method: "PUT",
      body: manifestBody,
      headers: { "Content-Type": MANIFEST },
    });
    assert.equal(put.status, 201, await put.text());
    assert.equal((await fetch(`${repoUrl}/manifests/${r.digest}`, { method: "DELETE" })).status, 202);
  }
}

/** A base64 signature with one bit of its last decoded byte flipped. */
function flipped(b64: string): string {
  const bytes = Buffer.from(b64, "base64");
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
  return bytes.toString("base64");
}
