#!/usr/bin/env node
// The README's sizes and freshness tables, measured rather than typed: each image's size per
// platform (compressed as stored, and unpacked) from the layouts the main job pulled back from its
// registry, and each package's version beside the newest upstream release `undistro update check`
// found. Rewrites the part of README.md between the `readme-tables` markers.
//   node scripts/readme-tables.mjs [--images DIR] [--updates FILE] [--readme FILE]
// (defaults: out/pulled, out/updates.json when present, README.md; run `npm run build` first).
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const { readImagePlatforms, platformPackages } = await import(join(root, "dist/src/advisory/index.js"));
const { endpoint } = await import(join(root, "dist/src/oci/index.js"));
const { bytes } = await import(join(root, "dist/src/catalog/index.js"));

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const imagesDir = arg("--images", join(root, "out/pulled"));
const updatesFile = arg("--updates", join(root, "out/updates.json"));
const readme = arg("--readme", join(root, "README.md"));
const BEGIN = "<!-- readme-tables:begin (scripts/readme-tables.mjs writes this part) -->";
const END = "<!-- readme-tables:end -->";

if (!existsSync(imagesDir)) {
  console.error(`readme-tables: no image layouts at ${imagesDir}: run the main job first (npm run main-job)`);
  process.exit(1);
}
const rows = [];
for (const name of readdirSync(imagesDir).sort()) {
  const dir = join(imagesDir, name);
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
if (existsSync(updatesFile)) {
  const updates = JSON.parse(readFileSync(updatesFile, "utf8"));
  lines.push("", "| package | version | newest upstream known | tracked through |", "|---|---|---|---|");
  for (const u of updates) {
    const newest = u.latest ? (u.newer ? `**${u.latest}** (newer)` : `${u.latest} (current)`) : (u.skipped ?? u.error ?? "");
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
console.log(`readme-tables: ${rows.length} image platforms${existsSync(updatesFile) ? ", package freshness" : ""} written into ${readme}`);
