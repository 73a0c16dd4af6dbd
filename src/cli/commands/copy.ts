import type { Command } from "commander";
import { copyImage, describeEndpoint, endpoint } from "../../oci/index.js";
import { UndistroError } from "../../util/index.js";
import { type Io, printJson } from "../output.js";
import { action } from "./shared.js";

interface CopyFlags {
  creds?: string;
  insecure?: boolean;
  referrers?: boolean;
  platform?: string;
  json?: boolean;
}

function credentials(creds: string | undefined): { username?: string; password?: string } {
  if (creds === undefined) {
    const u = process.env.UNDISTRO_REGISTRY_USER;
    return u ? { username: u, password: process.env.UNDISTRO_REGISTRY_PASSWORD ?? "" } : {};
  }
  const colon = creds.indexOf(":");
  if (colon < 0) throw new UndistroError("USAGE", "--creds USER:PASSWORD");
  return { username: creds.slice(0, colon), password: creds.slice(colon + 1) };
}

async function runCopy(io: Io, src: string, dst: string, f: CopyFlags): Promise<void> {
  const opts = { ...credentials(f.creds), insecure: f.insecure === true };
  const from = endpoint(src, opts);
  const to = endpoint(dst, opts);
  const r = await copyImage(from, to, {
    ...(f.platform ? { platform: f.platform } : {}),
    referrers: f.referrers !== false,
    onItem: f.json ? undefined : (what) => io.err(`copied ${what}\n`),
  });
  if (f.json) printJson(io, { source: describeEndpoint(from), destination: describeEndpoint(to), ...r });
  else io.out(`${describeEndpoint(to)}@${r.digest}: ${r.manifests} manifests, ${r.blobs} blobs, ${r.referrers} referrers\n`);
}

/**
 * `copy` between registries and layouts (`oci:DIR[:TAG]` or `HOST/REPO[:TAG][@DIGEST]`);
 * `push` and `pull` are the same with one side a layout.
 */
export function registerCopy(program: Command, io: Io): void {
  const common = (c: Command) =>
    c
      .option("--creds <user:password>", "registry credentials (default: $UNDISTRO_REGISTRY_USER / $UNDISTRO_REGISTRY_PASSWORD)")
      .option("--insecure", "plain HTTP to a non-loopback registry")
      .option("--no-referrers", "leave signatures, SBOMs and attestations behind")
      .option("--platform <os/arch[/variant]>", "copy only this platform out of an index (default: every platform)")
      .option("--json", "print the result as JSON");
  common(
    program.command("copy <source> <destination>").description("copy an image with its platforms and referrers (oci:DIR[:TAG] or HOST/REPO[:TAG])"),
  ).action(action(io, (src: string, dst: string, f: CopyFlags) => runCopy(io, src, dst, f)));
  common(program.command("push <layout> <reference>").description("push an OCI layout (DIR[:TAG]) to a registry")).action(
    action(io, (layout: string, ref: string, f: CopyFlags) => runCopy(io, layout.startsWith("oci:") ? layout : `oci:${layout}`, ref, f)),
  );
  common(program.command("pull <reference> <layout>").description("pull an image into an OCI layout (DIR[:TAG])")).action(
    action(io, (ref: string, layout: string, f: CopyFlags) => runCopy(io, ref, layout.startsWith("oci:") ? layout : `oci:${layout}`, f)),
  );
}
