import type { Command } from "commander";
import { collectGarbage, hashPassword, RegistryServer, RegistryStorage } from "../../registry/index.js";
import { UndistroError } from "../../util/index.js";
import { type Io, printJson } from "../output.js";
import { action, parseDuration } from "./shared.js";

export function registerRegistry(program: Command, io: Io): void {
  const reg = program.command("registry").description("undistro's OCI registry (distribution spec v1.1)");
  reg
    .command("serve")
    .description("serve a registry until interrupted")
    .option("--listen <host:port>", "address to listen on", "127.0.0.1:5000")
    .requiredOption("--root <dir>", "storage directory")
    .option("--config <file>", "users, permissions, anonymous access (YAML)")
    .option("--tls-cert <file>", "TLS certificate (PEM)")
    .option("--tls-key <file>", "TLS private key (PEM)")
    .action(
      action(io, async (f: { listen: string; root: string; config?: string; tlsCert?: string; tlsKey?: string }) => {
        const m = /^(.*):(\d+)$/.exec(f.listen);
        if (!m) throw new UndistroError("USAGE", `--listen ${f.listen}: use HOST:PORT`);
        if (Boolean(f.tlsCert) !== Boolean(f.tlsKey)) throw new UndistroError("USAGE", "--tls-cert and --tls-key go together");
        const opts: ConstructorParameters<typeof RegistryServer>[0] = { root: f.root };
        if (f.config) opts.config = f.config;
        if (f.tlsCert && f.tlsKey) opts.tls = { cert: f.tlsCert, key: f.tlsKey };
        const server = new RegistryServer(opts);
        const running = await server.listen((m[1] as string).replace(/^\[|\]$/g, ""), Number(m[2]));
        io.err(`undistro registry listening on ${running.url} (storage ${f.root})\n`);
        await new Promise<void>((resolve) => {
          const stop = () => {
            running.close().then(resolve);
          };
          process.once("SIGINT", stop);
          process.once("SIGTERM", stop);
        });
      }),
    );
  reg
    .command("gc")
    .description("remove untagged manifests, orphaned referrers, unreferenced blobs and stale uploads (safe while serving)")
    .requiredOption("--root <dir>", "storage directory")
    .option("--delay <duration>", "keep anything newer than this (30s, 10m, 1h)", "1h")
    .option("--upload-age <duration>", "remove uploads idle longer than this", "24h")
    .option("--keep-untagged", "keep untagged manifests (still removes referrers of missing subjects)")
    .option("--dry-run", "report what would be removed, remove nothing")
    .option("--json", "print the report as JSON")
    .action(
      action(io, async (f: { root: string; delay: string; uploadAge: string; keepUntagged?: boolean; dryRun?: boolean; json?: boolean }) => {
        const r = collectGarbage(new RegistryStorage(f.root), {
          delayMs: parseDuration(f.delay, "--delay"),
          uploadMaxAgeMs: parseDuration(f.uploadAge, "--upload-age"),
          keepUntagged: f.keepUntagged === true,
          dryRun: f.dryRun === true,
        });
        if (f.json) return printJson(io, r);
        for (const m of r.manifestsRemoved) io.out(`${r.dryRun ? "would remove" : "removed"} manifest ${m}\n`);
        io.out(
          `${r.repositories} repositories: ${r.manifestsRemoved.length} manifests, ${r.layerLinksRemoved} blob links, ${r.blobsRemoved} blobs (${(r.bytesFreed / 1048576).toFixed(1)} MiB), ${r.scratchRemoved} stale uploads ${r.dryRun ? "would be " : ""}removed; ${r.blobsKept} blobs kept\n`,
        );
      }),
    );
  reg
    .command("hash-password")
    .description("print an scrypt hash for the registry config (password from $UNDISTRO_PASSWORD or stdin)")
    .action(
      action(io, async () => {
        let pw = process.env.UNDISTRO_PASSWORD;
        if (pw === undefined) {
          const chunks: Buffer[] = [];
          for await (const c of process.stdin) chunks.push(c as Buffer);
          pw = Buffer.concat(chunks)
            .toString("utf8")
            .replace(/\r?\n$/, "");
        }
        if (!pw) throw new UndistroError("USAGE", "empty password");
        io.out(`${hashPassword(pw)}\n`);
      }),
    );
}
