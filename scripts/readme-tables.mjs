#!/usr/bin/env node
// The README's sizes and freshness tables, measured rather than typed: each image's size per
// platform (compressed as stored, and unpacked) from the layouts the main job pulled back from its
// registry, and each package's version beside the newest upstream release `undistro update check`
// found. Rewrites the part of README.md between the `readme-tables` markers.
//   node scripts/readme-tables.mjs [--images DIR]... [--updates FILE]... [--readme FILE]
// (defaults: out/pulled and, when scripts/build-extra.sh ran, out/extra-images; out/updates.json and
// out/extra-updates.json and out/extra-go-updates.json when present; README.md. Run `npm run build` first).
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const { readImagePlatforms, platformPackages } = await import(join(root, "dist/src/advisory/index.js"));
const { endpoint } = await import(join(root, "dist/src/oci/index.js"));
const { bytes } = await import(join(root, "dist/src/catalog/index.js"));

const args = (name) => process.argv.flatMap((a, i) => (a === name && process.argv[i + 1] ? [process.argv[i + 1]] : []));
const arg = (name, fallback) => args(name)[0] ?? fallback;
const given = (name, fallbacks) => (args(name).length ? args(name) : fallbacks.filter((f, i) => i === 0 || existsSync(f)));
const imagesDirs = given("--images", [join(root, "out/pulled"), join(root, "out/extra-images")]);
const updatesFiles = given("--updates", [join(root, "out/updates.json"), join(root, "out/extra-updates.json"), join(root, "out/extra-go-updates.json")]).filter(
  (f) => existsSync(f),
);
const readme = arg("--readme", join(root, "README.md"));
const BEGIN = "<!-- readme-tables:begin (scripts/readme-tables.mjs writes this part) -->";
const END = "<!-- readme-tables:end -->";

const imagesDir = imagesDirs[0];
if (!existsSync(imagesDir)) {
  console.error(`readme-tables: no image layouts at ${imagesDir}: run the main job first (npm run main-job)`);
  process.exit(1);
}
const layouts = imagesDirs.flatMap((d) => readdirSync(d).map((name) => ({ name, dir: join(d, name) })));
layouts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
const rows = [];
for (const { name, dir } of layouts) {
  if (!existsSync(join(dir, "oci-layout"))) continue;
  for (const p of await readImagePlatforms(endpoint(`oci:${dir}:latest`), `oci:${dir}`)) {
    const compressed = p.config.size + p.layers.reduce((n, l) => n + l.descriptor.size, 0);
    const unpacked = p.layers.reduce((n, l) => n + l.uncompressedSize, 0);
    const packages = p.installedDb === undefined ? 0 : platformPackages(dir, p).length;
    rows.push(`| \`${name}\` | ${p.platform} | ${bytes(compressed)} | ${bytes(unpacked)} | ${packages} |`);
  }
}
const lines = [
  BEGIN,
  "",
  "| image | platform | compressed | unpacked | packages |",
  "|---|---|---|---|---|",
  ...rows,
  "",
  "For comparison, the figures peers publish for their static images: Chainguard's `static` about 2.0 MB,",
  "Google's distroless `static` about 2.4 MB (compressed).",
];
if (updatesFiles.length) {
  const updates = updatesFiles.flatMap((f) => JSON.parse(readFileSync(f, "utf8")));
  updates.sort((a, b) => (a.package < b.package ? -1 : a.package > b.package ? 1 : 0));
  lines.push("", "| package | version | newest upstream known | tracked through |", "|---|---|---|---|");
  for (const u of updates) {
    let newest = u.latest ? (u.newer ? `**${u.latest}** (newer)` : `${u.latest} (current)`) : (u.skipped ?? u.error ?? "");
    if (u.unserved?.length) newest += `; listed but not served by the archive: ${u.unserved.join(", ")}`;
    const through = u.provider ? (u.source?.startsWith(`${u.provider}:`) ? u.source : `${u.provider}: ${u.source ?? ""}`) : "—";
    lines.push(`| \`${u.package}\` | ${u.current} | ${newest} | ${through} |`);
  }
}
lines.push("", END);
const text = readFileSync(readme, "utf8");
const start = text.indexOf(BEGIN);
const end = text.indexOf(END);
if (start < 0 || end < start) {
  console.error(`readme-tables: ${readme} has no ${BEGIN} … ${END} section`);
  process.exit(1);
}
writeFileSync(readme, text.slice(0, start) + lines.join("\n") + text.slice(end + END.length));
console.log(`readme-tables: ${rows.length} image platforms${updatesFiles.length ? ", package freshness" : ""} written into ${readme}`);
