import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Command } from "commander";
import {
  buildSecdb,
  buildVex,
  createAdvisory,
  EVENT_TYPES,
  type EventType,
  FALSE_POSITIVE_TYPES,
  failsAt,
  formatProblem,
  installedPackages,
  listAdvisories,
  loadAdvisoriesFor,
  loadAdvisoryDirectory,
  loadOsvDatabase,
  loadValidAdvisories,
  type NewEvent,
  SEVERITIES,
  type Severity,
  scanPackages,
  scanSarif,
  updateAdvisory,
} from "../../advisory/index.js";
import { loadProjectConfig, sortedJson, UndistroError, writeFileAtomic } from "../../util/index.js";
import { EXIT, type Io, printJson } from "../output.js";
import { VERSION } from "../version.js";
import { action, collect, keyPassword } from "./shared.js";

/** The advisories directory: undistro.yaml's `advisories` (distro/advisories by default). */
const defaultAdvisories = () => loadProjectConfig().advisories;

interface EventFlags {
  type: string;
  fixedVersion?: string;
  justification?: string;
  note?: string;
  timestamp?: string;
  advisories?: string;
  json?: boolean;
}

/** Event data from flags; `not-affected` is a friendlier name for a false-positive determination. */
function eventFromFlags(f: EventFlags): NewEvent {
  const type = (f.type === "not-affected" ? "false-positive-determination" : f.type) as EventType;
  if (!(EVENT_TYPES as readonly string[]).includes(type)) {
    throw new UndistroError("USAGE", `--type ${f.type}: use one of ${[...EVENT_TYPES, "not-affected"].join(", ")}`);
  }
  const ts = f.timestamp ? { timestamp: f.timestamp } : {};
  switch (type) {
    case "detection":
      return { type, ...ts, data: { type: "manual" } };
    case "fixed":
      if (!f.fixedVersion) throw new UndistroError("USAGE", "--type fixed needs --fixed-version (the package version with the fix, like 1.3.1-r0)");
      return { type, ...ts, data: { "fixed-version": f.fixedVersion } };
    case "false-positive-determination":
      if (!f.justification) throw new UndistroError("USAGE", `--type ${f.type} needs --justification (${FALSE_POSITIVE_TYPES.join(", ")})`);
      return { type, ...ts, data: { type: f.justification, ...(f.note ? { note: f.note } : {}) } };
    case "true-positive-determination":
      return f.note ? { type, ...ts, data: { note: f.note } } : { type, ...ts };
    default:
      if (!f.note) throw new UndistroError("USAGE", `--type ${type} needs --note saying why`);
      return { type, ...ts, data: { note: f.note } };
  }
}

function eventOptions(cmd: Command): Command {
  return cmd
    .requiredOption("--type <type>", `event: ${[...EVENT_TYPES, "not-affected"].join(", ")}`)
    .option("--fixed-version <version>", "for fixed: the package version that carries the fix")
    .option("--justification <type>", `for not-affected / false-positive-determination: ${FALSE_POSITIVE_TYPES.join(", ")}`)
    .option("--note <text>", "why (required for pending-upstream-fix, fix-not-planned, analysis-not-planned)")
    .option("--timestamp <rfc3339>", "when (default: now)")
    .option("--advisories <dir>", "advisories directory (default: undistro.yaml's advisories)")
    .option("--json", "print the result as JSON");
}

export function registerAdvisory(program: Command, io: Io): void {
  const adv = program.command("advisory").description("security advisories: one YAML document per package (Wolfi's schema 2)");
  for (const verb of ["create", "update"] as const) {
    eventOptions(
      adv
        .command(`${verb} <package> <vulnerability>`)
        .description(
          verb === "create"
            ? "record a new advisory for a package (vulnerability: CVE, GHSA or GO id, or an advisory id)"
            : "add an event to the package's advisory for a vulnerability",
        ),
    ).action(
      action(io, async (pkg: string, vulnerability: string, f: EventFlags) => {
        const edit = { dir: f.advisories ?? defaultAdvisories(), package: pkg, vulnerability, event: eventFromFlags(f) };
        const r = verb === "create" ? createAdvisory(edit) : updateAdvisory(edit);
        if (f.json) printJson(io, r);
        else io.out(`${r.created ? "created" : "updated"} ${r.id}${r.aliases.length ? ` (${r.aliases.join(", ")})` : ""} in ${r.file}: ${r.event.type}\n`);
      }),
    );
  }
  adv
    .command("list")
    .description("list advisories with where each stands (its latest event)")
    .option("--advisories <dir>", "advisories directory (default: undistro.yaml's advisories)")
    .option("--package <name>", "only this package")
    .option("--vulnerability <id>", "only advisories with this id or alias")
    .option("--type <type>", "only advisories whose latest event has this type")
    .option("--unresolved", "only advisories still open (detection, true-positive-determination)")
    .option("--json", "print rows as JSON")
    .action(
      action(io, async (f: { advisories?: string; package?: string; vulnerability?: string; type?: string; unresolved?: boolean; json?: boolean }) => {
        const dir = f.advisories ?? defaultAdvisories();
        const docs = f.package ? loadAdvisoriesFor(dir, [f.package]) : loadValidAdvisories(dir);
        const rows = listAdvisories(docs, {
          ...(f.package ? { package: f.package } : {}),
          ...(f.vulnerability ? { vulnerability: f.vulnerability } : {}),
          ...(f.type ? { type: f.type as EventType } : {}),
          ...(f.unresolved ? { unresolved: true } : {}),
        });
        if (f.json) printJson(io, rows);
        else {
          for (const r of rows) {
            io.out(`${r.package}\t${r.id}\t${r.aliases.join(",") || "-"}\t${r.latest ?? "-"}${r.detail ? ` ${r.detail}` : ""}\t${r.updated ?? ""}\n`);
          }
          io.err(`${rows.length} advisor${rows.length === 1 ? "y" : "ies"}\n`);
        }
      }),
    );
  adv
    .command("validate [dir]")
    .description("validate every advisories document in a directory; names file, line and field of each problem")
    .option("--json", 'print {"valid": N, "invalid": N, "problems": [...]}')
    .action(
      action(io, async (dir: string | undefined, f: { json?: boolean }) => {
        const r = loadAdvisoryDirectory(dir ?? defaultAdvisories());
        const problems = r.invalid.flatMap((x) => x.problems);
        const advisories = r.documents.reduce((n, d) => n + d.advisories.length, 0);
        if (f.json) printJson(io, { valid: r.documents.length, invalid: r.invalid.length, advisories, problems });
        else {
          for (const p of problems) io.out(`${formatProblem(p)}\n`);
          io.out(`${r.documents.length} valid (${advisories} advisories), ${r.invalid.length} invalid\n`);
        }
        return r.invalid.length ? EXIT.failed : EXIT.ok;
      }),
    );
  adv
    .command("secdb")
    .description("write Alpine-format security.json (secfixes per package) from the advisories")
    .option("--advisories <dir>", "advisories directory (default: undistro.yaml's advisories)")
    .option("--repository <dir>", "write <dir>/security.json, beside the arch directories and their APKINDEX.tar.gz")
    .option("--output <file>", "write here instead (- for stdout)")
    .option("--reponame <name>", "repository name in the apkurl template", "undistro")
    .option("--urlprefix <url>", "URL prefix in the apkurl template", "https://packages.undistro.dev")
    .option("--arch <arch>", "architecture (repeatable; default x86_64 and aarch64)", collect, [])
    .option("--json", "print a summary as JSON")
    .action(
      action(
        io,
        async (f: { advisories?: string; repository?: string; output?: string; reponame: string; urlprefix: string; arch: string[]; json?: boolean }) => {
          const secdb = buildSecdb(loadValidAdvisories(f.advisories ?? defaultAdvisories()), {
            reponame: f.reponame,
            urlprefix: f.urlprefix,
            ...(f.arch.length ? { archs: f.arch } : {}),
          });
          const text = `${sortedJson(secdb, 2)}\n`;
          const out = f.output ?? (f.repository ? join(f.repository, "security.json") : "-");
          if (out === "-") io.out(text);
          else {
            mkdirSync(dirname(out), { recursive: true });
            writeFileAtomic(out, Buffer.from(text));
          }
          const fixes = secdb.packages.reduce((n, p) => n + Object.values(p.pkg.secfixes).reduce((m, ids) => m + ids.length, 0), 0);
          if (f.json && out !== "-") printJson(io, { file: out, packages: secdb.packages.length, ids: fixes });
          else if (out !== "-") io.out(`wrote ${out}: ${secdb.packages.length} packages, ${fixes} ids\n`);
        },
      ),
    );

  registerVex(program, io);
  program
    .command("scan <target>")
    .description("scan an image (oci:DIR[:TAG] or HOST/REPO[:TAG]), .apk, SBOM or root fs against OSV records and the distro's advisories")
    .requiredOption("--db <dir>", "directory of OSV JSON records")
    .option("--advisories <dir>", "advisories directory: they remove fixed and not-affected matches, never add (default: undistro.yaml's advisories)")
    .option("--no-advisories", "ignore advisories")
    .option("--ecosystem <name>", "OSV ecosystem of the distro's packages", "undistro")
    .option("--platform <os/arch>", "only this platform of a multi-arch image")
    .option("--fail-on <severity>", "exit 1 when a finding is at or above: low, medium, high, critical")
    .option("--json", "print the report as JSON")
    .option("--sarif", "print SARIF 2.1.0")
    .option("--show-resolved", "also list matches the advisories resolved")
    .action(
      action(
        io,
        async (
          target: string,
          f: {
            db: string;
            advisories?: string | boolean;
            ecosystem: string;
            platform?: string;
            failOn?: string;
            json?: boolean;
            sarif?: boolean;
            showResolved?: boolean;
          },
        ) => {
          if (f.failOn && !(SEVERITIES as readonly string[]).includes(f.failOn)) {
            throw new UndistroError("USAGE", `--fail-on ${f.failOn}: use low, medium, high or critical`);
          }
          const packages = await installedPackages(target, f.platform ? { platform: f.platform } : {});
          const db = loadOsvDatabase(f.db);
          const names = packages.flatMap((p) => [p.name, p.origin ?? p.name]);
          const docs = f.advisories === false ? [] : loadAdvisoriesFor(typeof f.advisories === "string" ? f.advisories : defaultAdvisories(), names);
          const report = scanPackages(target, packages, db, docs, { ecosystem: f.ecosystem });
          if (f.sarif) printJson(io, scanSarif(report, { version: VERSION }));
          else if (f.json) printJson(io, report);
          else printScanTable(io, report, Boolean(f.showResolved));
          return f.failOn && failsAt(report, f.failOn as Severity) ? EXIT.failed : EXIT.ok;
        },
      ),
    );
}

function registerVex(program: Command, io: Io): void {
  program
    .command("vex <target>")
    .description("write an OpenVEX document from the advisories for the packages in an image (oci:DIR[:TAG] or HOST/REPO[:TAG]), SBOM or root fs")
    .option("--advisories <dir>", "advisories directory (default: undistro.yaml's advisories)")
    .option("--platform <os/arch>", "only this platform of a multi-arch image")
    .option("--author <name>", "the document's author", "undistro")
    .option("--id <iri>", "the document's @id (default: derived from its statements)")
    .option("--out <file>", "write the document here instead of printing it")
    .option("--attest", "also sign it and attach it to the image as an OpenVEX attestation (needs --key)")
    .option("--key <file>", "cosign private key for --attest (password in $UNDISTRO_PASSWORD or $COSIGN_PASSWORD)")
    .action(
      action(
        io,
        async (target: string, f: { advisories?: string; platform?: string; author: string; id?: string; out?: string; attest?: boolean; key?: string }) => {
          if (f.attest && !f.key) throw new UndistroError("USAGE", "--attest needs --key FILE (a cosign private key)");
          const packages = await installedPackages(target, f.platform ? { platform: f.platform } : {});
          const docs = loadAdvisoriesFor(
            f.advisories ?? defaultAdvisories(),
            packages.flatMap((p) => [p.name, p.origin ?? p.name]),
          );
          const vex = buildVex(packages, docs, { author: f.author, tooling: `undistro ${VERSION}`, ...(f.id ? { id: f.id } : {}) });
          const text = `${sortedJson(vex)}\n`;
          if (f.out) {
            mkdirSync(dirname(f.out), { recursive: true });
            writeFileAtomic(f.out, Buffer.from(text));
            io.err(`wrote ${f.out}: ${vex.statements.length} statements for ${new Set(packages.map((p) => p.name)).size} packages\n`);
          } else io.out(text);
          if (f.attest && f.key) {
            const sign = await import("../../sign/index.js");
            const oci = await import("../../oci/index.js");
            const key = sign.loadCosignPrivateKey(f.key, await keyPassword(io));
            const r = await sign.attestImage(oci.endpoint(target), key, sign.PREDICATE_TYPES.openvex as string, vex);
            io.err(`attested ${r.image}@${r.digest}: ${r.predicateType} → ${r.attestationTag} and referrer ${r.bundleManifest}\n`);
          }
        },
      ),
    );
}

function printScanTable(io: Io, report: ReturnType<typeof scanPackages>, showResolved: boolean): void {
  const rows = report.findings.map((f) => [
    f.package,
    f.version,
    f.vulnerability,
    f.severity,
    f.fixedVersion ?? "-",
    f.advisory ? `${f.advisory.status} (${f.advisory.id})` : "-",
  ]);
  if (showResolved)
    for (const r of report.resolved)
      rows.push([r.package, r.version, r.vulnerability, r.severity, r.advisory.fixedVersion ?? "-", `${r.advisory.status} (${r.advisory.id})`]);
  if (rows.length) {
    const head = ["PACKAGE", "VERSION", "VULNERABILITY", "SEVERITY", "FIXED IN", "ADVISORY"];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
    const line = (r: string[]) => `${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ")}\n`;
    io.out(line(head));
    for (const r of rows) io.out(line(r));
  }
  const c = report.counts;
  io.out(
    `${report.findings.length} vulnerabilit${report.findings.length === 1 ? "y" : "ies"} (critical ${c.critical}, high ${c.high}, medium ${c.medium}, low ${c.low}, unknown ${c.unknown}) in ${report.packages} packages; ${report.resolved.length} resolved by advisories\n`,
  );
}
