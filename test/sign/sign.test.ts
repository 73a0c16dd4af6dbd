import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildImage } from "../../src/image/index.js";
import { copyImage, endpoint, OciLayout, readManifest } from "../../src/oci/index.js";
import { RegistryServer, type RunningRegistry } from "../../src/registry/index.js";
import {
  bundleStatement,
  COSIGN_SIGN_PREDICATE,
  Keyring,
  keyHint,
  openBundle,
  pae,
  signatureTag,
  signDsse,
  signImage,
  simpleSigningPayload,
  statementFor,
  verifyDsse,
  verifyImage,
} from "../../src/sign/index.js";
import { REFERENCE, runCli, tempDir } from "../helpers.js";

const SIGSTORE = join(REFERENCE, "sigstore");

describe("signed payloads (sigstore and DSSE vectors)", () => {
  it("simple-signing payloads equal sigstore's marshalled bytes", () => {
    const vectors = JSON.parse(readFileSync(join(SIGSTORE, "sigstore+sigstore/extracted/pkg/signature/payload/marshal-vectors.json"), "utf8")) as {
      cases: { desc: string; payload: string }[];
    };
    assert.equal(vectors.cases.length, 4);
    for (const c of vectors.cases) {
      const doc = JSON.parse(c.payload);
      const ours = simpleSigningPayload(doc.critical.identity["docker-reference"], doc.critical.image["docker-manifest-digest"], doc.optional);
      assert.equal(ours.toString("utf8"), c.payload, c.desc);
    }
  });

  it("reproduces the DSSE PAE vector, verifies its signature, and signs envelopes that fail when tampered", () => {
    const v = JSON.parse(readFileSync(join(SIGSTORE, "secure-systems-lab+dsse/extracted/protocol-test-vector.json"), "utf8"));
    assert.equal(pae(v.payloadType, Buffer.from(v.payload_utf8)).toString("utf8"), v.pae_utf8);
    const pub = createPublicKey(v.public_key_spki_pem);
    assert.ok(verifyDsse(v.envelope, pub), "the vector's P1363 signature verifies");
    assert.equal(verifyDsse({ ...v.envelope, payloadType: "http://example.com/Other" }, pub), false);
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const env = signDsse("application/vnd.in-toto+json", Buffer.from('{"_type":"https://in-toto.io/Statement/v1"}'), privateKey);
    assert.ok(verifyDsse(env, publicKey));
    const flipped = Buffer.from(env.payload, "base64");
    flipped[3] = (flipped[3] ?? 0) ^ 1;
    assert.equal(verifyDsse({ ...env, payload: flipped.toString("base64") }, publicKey), false);
    assert.equal(verifyDsse(env, pub), false, "another key does not verify it");
  });
});

describe("Sigstore bundles", () => {
  it("load with @sigstore/bundle and verify with @sigstore/verify (key-only trust, thresholds 0); tampering fails in both verifiers", async () => {
    const { bundleFromJSON } = await import("@sigstore/bundle");
    const { toSignedEntity, toTrustMaterial, Verifier } = await import("@sigstore/verify");
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const digest = `sha256:${"ab".repeat(32)}`;
    const ours = bundleStatement(statementFor(digest, COSIGN_SIGN_PREDICATE), privateKey);
    const hints: string[] = [];
    const trust = toTrustMaterial(
      { mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1", tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] },
      (hint) => {
        hints.push(hint);
        return { publicKey, validFor: () => true };
      },
    );
    const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, tsaThreshold: 0, timestampThreshold: 0 });
    const signer = verifier.verify(toSignedEntity(bundleFromJSON(JSON.parse(JSON.stringify(ours)))));
    assert.ok(signer.key);
    assert.deepEqual(hints, [keyHint(publicKey)]);
    assert.deepEqual(openBundle(ours, publicKey).statement?.subject, [{ digest: { sha256: "ab".repeat(32) } }]);

    const sig = Buffer.from(ours.dsseEnvelope.signatures[0]?.sig as string, "base64");
    sig[sig.length - 1] = (sig[sig.length - 1] ?? 0) ^ 1;
    const tampered = { ...ours, dsseEnvelope: { ...ours.dsseEnvelope, signatures: [{ keyid: "", sig: sig.toString("base64") }] } };
    assert.throws(() => verifier.verify(toSignedEntity(bundleFromJSON(JSON.parse(JSON.stringify(tampered))))));
    assert.match(openBundle(tampered, publicKey).error ?? "", /envelope signature does not verify/);
    const payload = Buffer.from(ours.dsseEnvelope.payload, "base64");
    payload[20] = (payload[20] ?? 0) ^ 1;
    const edited = { ...ours, dsseEnvelope: { ...ours.dsseEnvelope, payload: payload.toString("base64") } };
    assert.throws(() => verifier.verify(toSignedEntity(bundleFromJSON(JSON.parse(JSON.stringify(edited))))));
    assert.ok(openBundle(edited, publicKey).error);
  });

  it("cosign's key hint is what the reference results list", () => {
    const results = JSON.parse(readFileSync(join(SIGSTORE, "derived-key-decryption-results.json"), "utf8")) as {
      publicKeyPem?: string;
      cosignKeyHint?: string;
    }[];
    let n = 0;
    for (const r of results) {
      if (!r.publicKeyPem || !r.cosignKeyHint) continue;
      assert.equal(keyHint(createPublicKey(r.publicKeyPem)), r.cosignKeyHint);
      n++;
    }
    assert.ok(n >= 5, `${n} keys`);
  });
});

describe("image signatures in cosign's format", () => {
  let dir: string;
  let layout: string;
  let keyFile: string;
  let pubFile: string;
  let reg: RunningRegistry;

  before(async () => {
    dir = tempDir();
    layout = join(dir, "multiarch");
    await buildImage(join(REFERENCE, "apko/internal/cli/testdata/apko.yaml"), { outDir: layout, sourceDateEpoch: 0 });
    // sigstore-rs's reference key (password "123"): a key cosign itself reads.
    keyFile = join(SIGSTORE, "sigstore+sigstore-rs/tests/data/keys/ecdsa_encrypted_private.key");
    const results = JSON.parse(readFileSync(join(SIGSTORE, "derived-key-decryption-results.json"), "utf8")) as { file: string; publicKeyPem?: string }[];
    pubFile = join(dir, "cosign.pub");
    writeFileSync(pubFile, results.find((r) => r.file.endsWith("ecdsa_encrypted_private.key"))?.publicKeyPem as string);
    reg = await new RegistryServer({ root: join(dir, "root") }).listen();
  });
  after(() => reg.close());

  const cli = async (args: string[]) => {
    process.env.UNDISTRO_PASSWORD = "123";
    try {
      return await runCli(args);
    } finally {
      delete process.env.UNDISTRO_PASSWORD;
    }
  };

  it("signs a layout and verifies it offline; another key, a tampered payload and a swapped signature fail, named", async () => {
    const signed = await cli(["sign", "--key", keyFile, "--json", `oci:${layout}:latest`]);
    assert.equal(signed.code, 0, signed.stderr);
    const r = JSON.parse(signed.stdout) as { digest: string; signatureTag: string };
    const top = new OciLayout(layout).readIndex().manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === "latest");
    assert.equal(r.digest, top?.digest);
    assert.equal(r.signatureTag, `sha256-${r.digest.slice(7)}.sig`);
    const ok = await cli(["verify", "--key", pubFile, `oci:${layout}:latest`]);
    assert.equal(ok.code, 0, ok.stderr + ok.stdout);
    assert.match(ok.stdout, /ok {5}signature \[legacy\] sha256:[0-9a-f]{64}: signature verified \(docker-reference oci\/multiarch\)/);
    assert.match(ok.stdout, /ok {5}signature \[bundle\] sha256:[0-9a-f]{64}: bundle verified/);

    const other = join(dir, "other.pub");
    writeFileSync(other, generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "pem", type: "spki" }));
    const wrongKey = await cli(["verify", "--key", other, `oci:${layout}:latest`]);
    assert.equal(wrongKey.code, 1);
    assert.match(wrongKey.stdout, /FAILED signature \[legacy\] sha256:[0-9a-f]{64}: signature does not verify with the key/);
    assert.match(wrongKey.stderr, /VERIFY_FAILED/);

    // Swap: the arm64 image's signature, placed where the index's belongs.
    const arm = join(dir, "arm");
    await copyImage(endpoint(`oci:${layout}:latest`), endpoint(`oci:${arm}:latest`), { platform: "linux/arm64" });
    const armSig = await signImage(endpoint(`oci:${arm}:latest`), (await import("../../src/sign/index.js")).loadCosignPrivateKey(keyFile, "123"));
    const swapped = join(dir, "swapped");
    cpSync(layout, swapped, { recursive: true });
    const sigNode = await readManifest(endpoint(`oci:${arm}:${armSig.signatureTag}`), armSig.signatureTag);
    assert.ok(sigNode);
    const ourIdx = new OciLayout(swapped).readIndex();
    for (const m of ourIdx.manifests) if (m.annotations?.["org.opencontainers.image.ref.name"] === r.signatureTag) m.digest = sigNode.digest;
    new OciLayout(swapped).writeIndex(ourIdx);
    cpSync(join(arm, "blobs"), join(swapped, "blobs"), { recursive: true });
    const swap = await cli(["verify", "--key", pubFile, "--json", `oci:${swapped}:latest`]);
    assert.equal(swap.code, 1, swap.stdout);
    const legacy = (out: string) => (JSON.parse(out) as { checks: { form: string; reason: string }[] }).checks.filter((x) => x.form === "legacy");
    assert.match((legacy(swap.stdout)[0] as { reason: string }).reason, new RegExp(`signed digest ${armSig.digest} is not the image's ${r.digest}`));

    // Tamper: one byte of the signed payload.
    const tampered = join(dir, "tampered");
    cpSync(layout, tampered, { recursive: true });
    const sigManifest = JSON.parse(
      new OciLayout(tampered).readBlob((await readManifest(endpoint(`oci:${tampered}:x`), r.signatureTag))?.digest as string).toString("utf8"),
    );
    const payloadPath = join(tampered, "blobs/sha256", sigManifest.layers[0].digest.slice(7));
    const bytes = readFileSync(payloadPath);
    bytes[10] = (bytes[10] ?? 0) ^ 1;
    writeFileSync(payloadPath, bytes);
    const bad = await cli(["verify", "--key", pubFile, "--json", `oci:${tampered}:latest`]);
    assert.equal(bad.code, 1);
    assert.match((legacy(bad.stdout)[0] as { reason: string }).reason, /does not match its digest/);
  });

  it("signs through the registry client and verifies against the registry", async () => {
    const host = reg.url.replace("http://", "");
    await copyImage(endpoint(`oci:${layout}:latest`), endpoint(`${host}/app/multi:v1`));
    const s = await cli(["sign", "--key", keyFile, "--json", `${host}/app/multi:v1`]);
    assert.equal(s.code, 0, s.stderr);
    const digest = (JSON.parse(s.stdout) as { digest: string }).digest;
    const tags = (await (await fetch(`${reg.url}/v2/app/multi/tags/list`)).json()) as { tags: string[] };
    assert.ok(tags.tags.includes(signatureTag(digest)));
    const v = await cli(["verify", "--key", pubFile, `${host}/app/multi@${digest}`]);
    assert.equal(v.code, 0, v.stderr + v.stdout);
    // Signing again adds a second signature (ECDSA signatures are randomised), as cosign does; the
    // signature manifest itself carries no signature.
    const again = await signImage(endpoint(`${host}/app/multi:v1`), (await import("../../src/sign/index.js")).loadCosignPrivateKey(keyFile, "123"));
    assert.equal(again.signatures, 2);
    // The signature travels with a copy (cosign's tag-based form), and verifies offline there.
    const pulled = join(dir, "pulled");
    const copied = await copyImage(endpoint(`${host}/app/multi:v1`), endpoint(`oci:${pulled}:v1`), { referrers: true });
    assert.equal(copied.referrers, 3, "the .sig manifest and two bundle referrers");
    const offline = await cli(["verify", "--key", pubFile, `oci:${pulled}:v1`]);
    assert.equal(offline.code, 0, offline.stderr + offline.stdout);
    assert.equal((offline.stdout.match(/^ {2}ok {5}signature/gm) ?? []).length, 4, "both signatures, each in both forms");
    const unsigned = await verifyImage(endpoint(`${host}/app/multi:${signatureTag(digest)}`), createPublicKey(readFileSync(pubFile)));
    assert.equal(unsigned.ok, false);
  });

  it("attests SLSA provenance and SBOMs; verify --require names what is missing or invalid", async () => {
    const image = `oci:${layout}:latest`;
    const missing = await cli(["verify", "--key", pubFile, "--require", "signature,provenance,sbom", image]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /required provenance missing; required sbom missing/);

    const provenance = JSON.parse(readFileSync(join(layout, "provenance.json"), "utf8"));
    assert.equal(provenance.buildDefinition.buildType, "https://undistro.dev/buildtypes/image/v1");
    assert.equal(provenance.runDetails.metadata.startedOn, "1970-01-01T00:00:00Z");
    const deps = provenance.buildDefinition.resolvedDependencies as { name: string; digest: { sha256: string } }[];
    assert.ok(deps.length >= 2 && deps.every((d) => /^[0-9a-f]{64}$/.test(d.digest.sha256)));
    const a = await cli(["attest", "--key", keyFile, "--type", "slsaprovenance1", "--predicate", join(layout, "provenance.json"), "--json", image]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(JSON.parse(a.stdout).predicateType, "https://slsa.dev/provenance/v1");
    const sbom = readdirSync(join(layout, "sboms")).find((f) => f.endsWith(".spdx.json")) as string;
    const b = await cli(["attest", "--key", keyFile, "--type", "spdxjson", "--predicate", join(layout, "sboms", sbom), image]);
    assert.equal(b.code, 0, b.stderr);
    const cdx = readdirSync(join(layout, "sboms")).find((f) => f.endsWith(".cdx.json")) as string;
    const c = await cli(["attest", "--key", keyFile, "--type", "cyclonedx", "--predicate", join(layout, "sboms", cdx), image]);
    assert.equal(c.code, 0, c.stderr);
    const all = await cli(["verify", "--key", pubFile, "--require", "signature,provenance,sbom", "--json", image]);
    assert.equal(all.code, 0, all.stdout);
    const report = JSON.parse(all.stdout) as {
      checks: { kind: string; form: string; predicateType?: string; ok: boolean }[];
      requirements: Record<string, boolean>;
    };
    assert.deepEqual(report.requirements, { signature: true, provenance: true, sbom: true });
    const attestations = report.checks.filter((c) => c.kind === "attestation").map((c) => `${c.form} ${c.predicateType}`);
    assert.deepEqual(attestations.sort(), [
      "bundle https://cyclonedx.org/bom",
      "bundle https://slsa.dev/provenance/v1",
      "bundle https://spdx.dev/Document",
      "legacy https://cyclonedx.org/bom",
      "legacy https://slsa.dev/provenance/v1",
      "legacy https://spdx.dev/Document",
    ]);

    // A predicate that is not what its type says is refused at attest time.
    const bogus = join(dir, "bogus.json");
    writeFileSync(bogus, JSON.stringify({ buildDefinition: {} }));
    const refused = await cli(["attest", "--key", keyFile, "--type", "slsaprovenance1", "--predicate", bogus, image]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /ATTEST_PREDICATE.*buildType missing/);

    // One flipped byte in an attestation envelope: verify fails and names it.
    const tampered = join(dir, "tampered-att");
    cpSync(layout, tampered, { recursive: true });
    const att = await readManifest(endpoint(`oci:${tampered}:x`), `sha256-${(JSON.parse(all.stdout) as { digest: string }).digest.slice(7)}.att`);
    const envDigest = (JSON.parse(att?.body.toString("utf8") as string) as { layers: { digest: string }[] }).layers[0]?.digest as string;
    const envPath = join(tampered, "blobs/sha256", envDigest.slice(7));
    const bytes = readFileSync(envPath);
    bytes[bytes.length - 5] = (bytes[bytes.length - 5] ?? 0) ^ 1;
    writeFileSync(envPath, bytes);
    const bad = await cli(["verify", "--key", pubFile, "--require", "signature,provenance,sbom", `oci:${tampered}:latest`]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, new RegExp(`attestation ${envDigest}: ${envDigest} (is missing or )?does not match its digest`));
  });

  it("attests each platform's SBOM to that platform's manifest; sbom is satisfied when every platform has one", async () => {
    const fresh = join(dir, "per-platform");
    await buildImage(join(REFERENCE, "apko/internal/cli/testdata/apko.yaml"), { outDir: fresh, sourceDateEpoch: 0 });
    const image = `oci:${fresh}:latest`;
    assert.equal((await cli(["sign", "--key", keyFile, image])).code, 0);
    const index = JSON.parse(
      readFileSync(join(fresh, "blobs/sha256", (JSON.parse(readFileSync(join(fresh, "index.json"), "utf8")).manifests[0].digest as string).slice(7)), "utf8"),
    ) as { manifests: { digest: string; platform: { architecture: string } }[] };
    const amd64 = index.manifests.find((m) => m.platform.architecture === "amd64")?.digest;
    const sboms = readdirSync(join(fresh, "sboms"))
      .filter((f) => f.endsWith(".spdx.json"))
      .sort();
    assert.deepEqual(sboms, ["sbom-aarch64.spdx.json", "sbom-x86_64.spdx.json"]);
    const one = await cli([
      "attest",
      "--key",
      keyFile,
      "--type",
      "spdxjson",
      "--platform",
      "linux/amd64",
      "--predicate",
      join(fresh, "sboms", sboms[1] as string),
      "--json",
      image,
    ]);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(JSON.parse(one.stdout).digest, amd64, "the subject is the amd64 manifest");
    let v = await cli(["verify", "--key", pubFile, "--require", "signature,sbom", image]);
    assert.equal(v.code, 1, "arm64 has no SBOM yet");
    assert.match(v.stderr, /required sbom missing/);
    assert.match(v.stdout, /ok {4} attestation https:\/\/spdx\.dev\/Document \[bundle\] sha256:[0-9a-f]{64} \(linux\/amd64\)/);
    const two = await cli([
      "attest",
      "--key",
      keyFile,
      "--type",
      "spdxjson",
      "--platform",
      "linux/arm64",
      "--predicate",
      join(fresh, "sboms", sboms[0] as string),
      image,
    ]);
    assert.equal(two.code, 0, two.stderr);
    v = await cli(["verify", "--key", pubFile, "--require", "signature,sbom", "--json", image]);
    assert.equal(v.code, 0, v.stdout);
    const platforms = (JSON.parse(v.stdout).checks as { platform?: string; predicateType?: string }[])
      .filter((c) => c.predicateType === "https://spdx.dev/Document")
      .map((c) => c.platform)
      .sort();
    assert.deepEqual(platforms, ["linux/amd64", "linux/amd64", "linux/arm64/v8", "linux/arm64/v8"]);
    const nope = await cli([
      "attest",
      "--key",
      keyFile,
      "--type",
      "spdxjson",
      "--platform",
      "linux/s390x",
      "--predicate",
      join(fresh, "sboms", sboms[0] as string),
      image,
    ]);
    assert.equal(nope.code, 1);
    assert.match(nope.stderr, /error\[OCI_NOT_FOUND\]: .*no linux\/s390x manifest.*\n {2}hint: platforms: linux\/amd64, linux\/arm64\/v8/);
  });

  it("fails, naming the blob, when one byte of a manifest, config or layer changes", async () => {
    const top = new OciLayout(layout).readIndex().manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === "latest")?.digest as string;
    const index = JSON.parse(new OciLayout(layout).readBlob(top).toString("utf8")) as { manifests: { digest: string }[] };
    const child = index.manifests[0]?.digest as string;
    const manifest = JSON.parse(new OciLayout(layout).readBlob(child).toString("utf8")) as { config: { digest: string }; layers: { digest: string }[] };
    const cases: [string, string, RegExp][] = [
      ["manifest", child, new RegExp(`manifest ${child} does not match its digest`)],
      ["config", manifest.config.digest, new RegExp(`config ${manifest.config.digest} (is missing or )?does not match its digest`)],
      ["layer", manifest.layers[0]?.digest as string, new RegExp(`layer ${manifest.layers[0]?.digest} (is missing or )?does not match its digest`)],
    ];
    for (const [what, digest, expected] of cases) {
      const copy = join(dir, `flip-${what}`);
      cpSync(layout, copy, { recursive: true });
      const path = join(copy, "blobs/sha256", digest.slice(7));
      const bytes = readFileSync(path);
      bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] ?? 0) ^ 1;
      writeFileSync(path, bytes);
      const r = await cli(["verify", "--key", pubFile, `oci:${copy}:latest`]);
      assert.equal(r.code, 1, `${what}: ${r.stdout}`);
      assert.match(r.stderr, expected, what);
    }
    const intact = await cli(["verify", "--key", pubFile, `oci:${layout}:latest`]);
    assert.equal(intact.code, 0, intact.stdout);
    assert.match(intact.stdout, /ok {5}content sha256:[0-9a-f]{64}: \d+ configs and layers match their digests/);
  });

  it("with --repository and --apk-keys, checks every package the verified provenance names", async () => {
    const testdata = join(REFERENCE, "apko/internal/cli/testdata");
    const keys = join(dir, "apk-keys");
    mkdirSync(keys, { recursive: true });
    cpSync(join(testdata, "melange.rsa.pub"), join(keys, "melange.rsa.pub"));
    const good = await cli([
      "verify",
      "--key",
      pubFile,
      "--require",
      "provenance",
      "--repository",
      join(testdata, "packages"),
      "--apk-keys",
      keys,
      "--json",
      `oci:${layout}:latest`,
    ]);
    assert.equal(good.code, 0, good.stdout);
    const packages = (JSON.parse(good.stdout) as { checks: { kind: string; layer: string; ok: boolean; reason: string }[] }).checks.filter(
      (c) => c.kind === "package",
    );
    assert.ok(packages.length >= 2, JSON.stringify(packages));
    assert.ok(packages.some((p) => p.layer.startsWith("x86_64/")) && packages.some((p) => p.layer.startsWith("aarch64/")));
    for (const p of packages) assert.match(p.reason, /^APK signature by melange\.rsa\.pub, \d+ files checked$/);
    // A repository whose copy of a package changed since the build: named, and verify fails.
    const repo = join(dir, "repo-copy");
    cpSync(join(testdata, "packages"), repo, { recursive: true });
    const victim = join(repo, packages[0]?.layer as string);
    const bytes = readFileSync(victim);
    bytes[bytes.length - 3] = (bytes[bytes.length - 3] ?? 0) ^ 1;
    writeFileSync(victim, bytes);
    const bad = await cli(["verify", "--key", pubFile, "--require", "provenance", "--repository", repo, "--apk-keys", keys, `oci:${layout}:latest`]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, new RegExp(`package ${packages[0]?.layer}: sha256 [0-9a-f]{64} is not the [0-9a-f]{64} the provenance records`));
    // An image made from several repositories: each package is found in the one holding its bytes
    // (here one architecture per repository, and the changed copy first, which does not stand in).
    const [x86, arm] = [join(dir, "repo-x86_64"), join(dir, "repo-aarch64")];
    cpSync(join(testdata, "packages/x86_64"), join(x86, "x86_64"), { recursive: true });
    cpSync(join(testdata, "packages/aarch64"), join(arm, "aarch64"), { recursive: true });
    const split = await cli([
      "verify",
      ...["--key", pubFile, "--require", "provenance", "--apk-keys", keys, "--json"],
      ...["--repository", repo, "--repository", x86, "--repository", arm],
      `oci:${layout}:latest`,
    ]);
    assert.equal(split.code, 0, split.stdout + split.stderr);
    const found = (JSON.parse(split.stdout) as { checks: { kind: string; layer: string; reason: string }[] }).checks.filter((c) => c.kind === "package");
    assert.equal(found.length, packages.length);
    for (const p of found)
      assert.match(p.reason, new RegExp(`files checked \\(${p.layer.startsWith("x86_64/") ? "(.*repo-copy|.*repo-x86_64)" : ".*repo-(copy|aarch64)"}\\)$`));
    assert.match(
      found.find((p) => p.layer === packages[0]?.layer)?.reason ?? "",
      packages[0]?.layer.startsWith("x86_64/") ? /repo-x86_64\)$/ : /repo-aarch64\)$/,
    );
    // Found in none: every repository is named.
    const none = await cli(["verify", "--key", pubFile, "--require", "provenance", "--apk-keys", keys, "--repository", x86, `oci:${layout}:latest`]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /aarch64\/[^:]+: not in .*repo-x86_64\/aarch64/);
  });

  it("one keyring holds cosign and APK keys: each classified, used for what it verifies", async () => {
    const testdata = join(REFERENCE, "apko/internal/cli/testdata");
    const trusted = join(dir, "trusted");
    mkdirSync(trusted, { recursive: true });
    cpSync(join(testdata, "melange.rsa.pub"), join(trusted, "melange.rsa.pub"));
    cpSync(pubFile, join(trusted, "cosign.pub"));
    cpSync(keyFile, join(trusted, "cosign.key")); // a private key lying beside: skipped, not trusted
    writeFileSync(join(trusted, "README"), "keys we trust\n");
    const ring = Keyring.load([trusted]);
    assert.deepEqual(
      ring.entries.map((e) => [e.name, e.use, e.algorithm]),
      [
        ["cosign.pub", "image", "ecdsa-p256"],
        ["melange.rsa.pub", "apk", "rsa-4096"],
      ],
    );
    assert.deepEqual(
      ring.skipped.map((x) => [basename(x.path), x.reason]),
      [
        ["README", "not a PEM public key"],
        ["cosign.key", "is a private key; a keyring holds public keys only"],
      ],
    );
    const listed = await cli(["keys", trusted, "--json"]);
    assert.equal(JSON.parse(listed.stdout).keys[0].hint, keyHint(createPublicKey(readFileSync(pubFile))));
    // verify with the one directory: image signatures with the cosign key, packages with the APK key.
    const good = await cli([
      "verify",
      "--keyring",
      trusted,
      "--require",
      "signature,provenance",
      "--repository",
      join(testdata, "packages"),
      "--json",
      `oci:${layout}:latest`,
    ]);
    assert.equal(good.code, 0, good.stdout);
    assert.ok(JSON.parse(good.stdout).checks.some((c: { kind: string; ok: boolean }) => c.kind === "package" && c.ok));
    // A keyring with only APK keys cannot verify an image: said so, not a silent pass.
    const apkOnly = await cli(["verify", "--keyring", join(trusted, "melange.rsa.pub"), `oci:${layout}:latest`]);
    assert.equal(apkOnly.code, 2);
    assert.match(apkOnly.stderr, /no image key.*\n.*hint: the keyring holds only APK keys: melange\.rsa\.pub/);
    // Another image key beside the right one: any trusted key may have signed.
    const other = join(dir, "other.pub");
    writeFileSync(other, generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "pem", type: "spki" }));
    const two = await cli(["verify", "--keyring", other, "--keyring", pubFile, `oci:${layout}:latest`]);
    assert.equal(two.code, 0, two.stdout + two.stderr);
    assert.equal((await cli(["verify", "--keyring", other, `oci:${layout}:latest`])).code, 1);
    assert.throws(() => Keyring.load([keyFile]), /is a private key; a keyring holds public keys only/);
  });
});
