/**
 * `undistro catalog build`: a static site from a repository (and its advisories and images): a
 * search page over every package and image (name, cmd:, so:, file path, CVE id), one page per
 * package, one per image with a comparison of its versions, the advisories.
 * Every page is plain HTML that reads without JavaScript; the search box is a small script over
 * search.json. Output is deterministic: sorted, no timestamps.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AdvisoryDocument, OsvDatabase } from "../advisory/index.js";
import { type Advisory, latestEvent, sortedEvents } from "../advisory/index.js";
import { compareVersions, parseDependency } from "../apk/index.js";
import type { TrustedKeys } from "../sign/index.js";
import { UndistroError } from "../util/index.js";
import { type BuildGraph, buildClosure, buildGraphOf, GRAPH_CSS, graphSvg, MAX_GRAPH_NODES } from "./graph.js";
import { historyPage, readRebuildHistory } from "./history.js";
import { CSS, h, href, page, type Raw, slug } from "./html.js";
import { COMPARE_JS, comparePage, imagePage, imagesIndexPage } from "./image-pages.js";
import { type CatalogImage, loadImage, readSbomFile } from "./images.js";
import { type Catalog, type CatalogPackage, dependencyTarget, dependents, loadCatalog } from "./model.js";
import { SEARCH_JS } from "./search-script.js";
import type { UpstreamState } from "./updates.js";

export interface CatalogBuildReport {
  out: string;
  packages: number;
  images: number;
  pages: number;
  searchEntries: number;
}

export interface CatalogBuildOptions {
  /** The distro's repository (its rebuild history is the catalogue's). */
  repository: string;
  /** More repositories shown after it (a bootstrap stage's: nginx, Go); a package in both is the first's. */
  repositoryAppend?: string[];
  advisories?: string;
  out: string;
  /** OCI layouts (`oci:DIR`, `NAME=oci:DIR`): one image page each. */
  images?: string[];
  /** Image (cosign) keys the image pages verify signatures and attestations with. */
  imageKeys?: TrustedKeys;
  /** OSV records: the image pages' vulnerability summaries. */
  osv?: OsvDatabase;
  /** What `undistro update check --json` found, by package: the newest upstream release known. */
  updates?: Map<string, UpstreamState>;
}

/** One search entry: what a query is matched against, kept short (field names are one letter on purpose: the file is downloaded whole). */
export interface SearchEntry {
  /** name */
  n: string;
  /** newest version */
  v: string;
  /** description */
  d: string;
  /** provides (cmd:, so:, pc:, virtual names) */
  p: string[];
  /** file paths */
  f: string[];
  /** advisory and CVE ids */
  c: string[];
  /** "image" for an image (its page is under images/); absent for a package. */
  k?: "image";
}

function newest(list: CatalogPackage[]): CatalogPackage {
  return [...list].sort((a, b) => compareVersions(b.entry.version, a.entry.version) || (a.arch < b.arch ? -1 : 1))[0] as CatalogPackage;
}

function advisoryIds(cat: Catalog, name: string): string[] {
  const doc = cat.advisories.get(name);
  return doc ? [...new Set(doc.advisories.flatMap((a) => [a.id, ...a.aliases]))].sort() : [];
}

export function searchEntries(cat: Catalog): SearchEntry[] {
  return [...cat.packages.keys()].sort().map((name) => {
    const list = cat.packages.get(name) ?? [];
    const top = newest(list);
    return {
      n: name,
      v: top.entry.version,
      d: top.entry.description ?? "",
      p: [...new Set(list.flatMap((p) => p.entry.provides.map((x) => parseDependency(x, name, false).name)))].sort(),
      f: [...new Set(list.flatMap((p) => p.files))].sort(),
      c: advisoryIds(cat, name),
    };
  });
}

/** Images by name: the newest version's packages are searched as its provides, its open CVEs as its ids. */
export function imageSearchEntries(images: CatalogImage[]): SearchEntry[] {
  return images.map((img) => {
    const v = img.versions[img.versions.length - 1];
    const packages = new Set((v?.platforms ?? []).flatMap((p) => p.packages.map((x) => x.name)));
    return {
      n: img.name,
      v: v?.tags.join(", ") ?? "",
      d: `image with ${packages.size} packages`,
      p: [],
      f: [],
      c: [...new Set((v?.vulnerabilities?.findings ?? []).flatMap((f) => [f.vulnerability, ...f.aliases]))].sort(),
      k: "image",
    };
  });
}

function link(cat: Catalog, name: string, root: string): Raw {
  return cat.packages.has(name) ? h`<a href="${root}packages/${href(slug(name))}.html">${name}</a>` : h`<span>${name}</span>`;
}

/** The newest upstream release known for a package's origin, in a few words. */
function upstreamBadge(state: UpstreamState | undefined): Raw {
  if (!state) return h`<span class="muted">not checked</span>`;
  if (state.newer) return h`<span class="bad">${state.latest ?? ""} released</span>`;
  if (state.latest) return h`<span class="good">current</span>`;
  return h`<span class="muted">${state.note ?? "not tracked"}</span>`;
}

function indexPage(cat: Catalog, updates: Map<string, UpstreamState>): string {
  const rows = [...cat.packages.keys()].sort().map((name) => {
    const top = newest(cat.packages.get(name) ?? []);
    return h`<tr><td>${link(cat, name, "")}</td><td>${top.entry.version}</td><td>${upstreamBadge(updates.get(top.entry.origin ?? name))}</td><td>${(cat.packages.get(name) ?? []).map((p) => p.arch).join(", ")}</td><td>${top.entry.description ?? ""}</td></tr>`;
  });
  return page(
    "Packages",
    "",
    h`<h1>Packages</h1>
<form role="search" onsubmit="return false">
<label for="q">Search packages and images by name, command (cmd:sh), library (so:libc.musl-x86_64.so.1), file path or CVE id</label>
<input type="search" id="q" name="q" autocomplete="off" aria-describedby="count" aria-controls="results">
</form>
<p id="count" class="muted" aria-live="polite"></p>
<ul id="results" class="results"></ul>
<h2>All packages (${cat.packages.size})</h2>
<table><caption class="muted">From ${cat.archs.join(", ")}</caption><thead><tr><th scope="col">Name</th><th scope="col">Version</th><th scope="col">Upstream</th><th scope="col">Architectures</th><th scope="col">Description</th></tr></thead>
<tbody>${rows}</tbody></table>
<script src="assets/search.js" defer></script>`,
  );
}

function list(items: Raw[], empty: string): Raw {
  return items.length ? h`<ul>${items.map((i) => h`<li>${i}</li>`)}</ul>` : h`<p class="muted">${empty}</p>`;
}

function advisorySection(cat: Catalog, name: string): Raw {
  const doc = cat.advisories.get(name);
  if (!doc) return h`<h2>Advisories</h2><p class="muted">No advisories name ${name}.</p>`;
  return h`<h2>Advisories</h2>${doc.advisories.map((a) => advisoryBlock(a))}`;
}

function advisoryBlock(a: Advisory): Raw {
  const latest = latestEvent(a);
  return h`<h3 id="${a.id}">${a.id}${a.aliases.length ? h` <span class="muted">(${a.aliases.join(", ")})</span>` : ""}</h3>
<p>Status: <strong>${latest?.type ?? "no events"}</strong>${typeof latest?.data?.["fixed-version"] === "string" ? h`, fixed in ${latest.data["fixed-version"] as string}` : ""}</p>
<table><caption class="muted">Event timeline</caption><thead><tr><th scope="col">When</th><th scope="col">Event</th><th scope="col">Data</th></tr></thead><tbody>${sortedEvents(
    a,
  ).map((e) => h`<tr><td>${e.timestamp}</td><td>${e.type}</td><td><code>${e.data ? JSON.stringify(e.data) : ""}</code></td></tr>`)}</tbody></table>`;
}

function sbomSummary(p: CatalogPackage, file: string): Raw {
  if (!p.sbom) return h`<p class="muted">The package carries no SBOM.</p>`;
  let doc: { packages?: { name?: string; versionInfo?: string; licenseConcluded?: string; externalRefs?: { referenceLocator?: string }[] }[] } = {};
  try {
    doc = JSON.parse(p.sbom);
  } catch {
    return h`<p class="bad">The SBOM in the package is not JSON.</p>`;
  }
  return h`<p><a href="../sboms/${href(file)}" download>Download the SPDX SBOM</a> (${p.arch})</p>
<table><caption class="muted">SPDX packages</caption><thead><tr><th scope="col">Name</th><th scope="col">Version</th><th scope="col">License</th><th scope="col">purl</th></tr></thead><tbody>${(
    doc.packages ?? []
  ).map(
    (x) =>
      h`<tr><td>${x.name ?? ""}</td><td>${x.versionInfo ?? ""}</td><td>${x.licenseConcluded ?? ""}</td><td><code>${x.externalRefs?.find((r) => r.referenceLocator?.startsWith("pkg:"))?.referenceLocator ?? ""}</code></td></tr>`,
  )}</tbody></table>`;
}

function buildSection(p: CatalogPackage): Raw {
  const r = p.record;
  const verdicts = p.verdicts.length
    ? list(
        p.verdicts.map((v) => {
          const signature =
            v.signature === "verified"
              ? h`<span class="good">signature verified with a trusted key</span>`
              : v.signature === "unchecked"
                ? h`<span class="bad">signature NOT checked (the catalogue was built without --keyring)</span>`
                : h`<span class="bad">signature invalid: ${v.reason ?? ""}</span>`;
          const outcome = v.signature === "invalid" ? "unverified claim" : v.match ? "reproduced" : "did not reproduce";
          return h`<span class="${v.match && v.signature === "verified" ? "good" : "bad"}">${outcome}</span> by <code>${v.rebuilder}</code>; ${signature} <span class="muted">(${v.file})</span>`;
        }),
        "",
      )
    : h`<p class="muted">No rebuild verdicts yet (undistro rebuild-check --attest-key).</p>`;
  if (!r) return h`<h2>Build</h2><p class="muted">No build record in the package.</p><h3>Reproducibility</h3>${verdicts}`;
  return h`<h2>Build</h2>
<dl class="facts"><dt>Recipe</dt><dd><code>${r.recipe.path}</code> <span class="muted">sha256 ${r.recipe.sha256}</span></dd>
<dt>Builder</dt><dd>${r.builder.name} ${r.builder.version}, ${r.settings.hermetic ? "hermetic (a root of undistro packages only)" : "with the host's toolchain (stage 0/1)"}</dd>
<dt>SOURCE_DATE_EPOCH</dt><dd>${r.settings.sourceDateEpoch}</dd></dl>
<h3>Sources</h3>${list(
    r.sources.map((s) => h`<code>${s.uri}</code> <span class="muted">sha256 ${s.sha256}</span>`),
    "No sources fetched.",
  )}
<h3>Build environment</h3>${list(
    r.environment.packages.map((e) => h`${e.name} ${e.version} <span class="muted">${e.arch}</span>`),
    "No packages from the repository.",
  )}${r.host?.length ? h`<p class="muted">Host toolchain: ${r.host.map((t) => `${t.name} ${t.version}`).join(", ")}</p>` : ""}
${p.provenance ? h`<p><a href="../provenance/${href(p.provenance.file)}">SLSA provenance</a></p>` : ""}
<h3>Reproducibility</h3>${verdicts}`;
}

/** Image name → the package names its newest version installs (any platform). */
type ImageContents = Map<string, Set<string>>;

function imageContents(images: CatalogImage[]): ImageContents {
  return new Map(
    images.map((img) => [img.name, new Set((img.versions[img.versions.length - 1]?.platforms ?? []).flatMap((p) => p.packages.map((x) => x.name)))]),
  );
}

function graphSection(graph: BuildGraph, origin: string): Raw {
  const closure = buildClosure(graph, origin);
  if (closure.size < 2)
    return h`<h2>Build graph</h2><p class="muted">No package of this repository was in its build environment (its build record names none, or it has none).</p>`;
  return h`<h2>Build graph</h2><p>What built ${origin}, transitively (${closure.size - 1} source packages); its path is drawn in blue. <a href="../graph.html#n-${href(slug(origin))}">In the whole graph</a>.</p>
<div class="graph-wrap">${graphSvg(graph, { nodes: closure, highlight: origin, root: "../", title: `What built ${origin}` })}</div>`;
}

function graphPage(graph: BuildGraph): string {
  const edges = [...graph.values()].reduce((n, s) => n + s.size, 0);
  return page(
    "Build graph",
    "",
    h`<h1>Build graph</h1><p>Which source packages built which, from the build record every package carries: an arrow from A to B means A's packages were in B's build environment. ${graph.size} source packages, ${edges} edges.</p>${
      graph.size <= MAX_GRAPH_NODES
        ? h`<div class="graph-wrap">${graphSvg(graph, { root: "", title: "The build graph" })}</div>`
        : h`<p class="muted">Too many packages (${graph.size}) to draw readably at once: each package's page draws what built it.</p>`
    }`,
  );
}

function upstreamFact(state: UpstreamState | undefined): Raw {
  if (!state) return h`<dt>Newest upstream</dt><dd class="muted">not checked (catalog build --updates FILE from undistro update check --json)</dd>`;
  const listed = state.unserved?.length ? h`; listed but not served by the archive: ${state.unserved.join(", ")}` : "";
  const where = state.provider ? h` <span class="muted">(${state.provider}${state.source ? `: ${state.source}` : ""}${listed})</span>` : "";
  if (state.newer) return h`<dt>Newest upstream</dt><dd><span class="bad">${state.latest ?? ""}, newer than ${state.current}</span>${where}</dd>`;
  if (state.latest) return h`<dt>Newest upstream</dt><dd><span class="good">${state.latest}: up to date</span>${where}</dd>`;
  return h`<dt>Newest upstream</dt><dd class="muted">${state.note ?? "not tracked"}</dd>`;
}

function packagePage(cat: Catalog, name: string, inImages: ImageContents, graph: BuildGraph, updates: Map<string, UpstreamState>): string {
  const all = cat.packages.get(name) ?? [];
  const top = newest(all);
  const e = top.entry;
  const deps = e.depends.map((d) => {
    const target = dependencyTarget(cat, d, name);
    return target ? h`<code>${d}</code> → ${link(cat, target, "../")}` : h`<code>${d}</code> <span class="muted">(not in this repository)</span>`;
  });
  const rdeps = dependents(cat, name).map((n) => link(cat, n, "../"));
  return page(
    name,
    "../",
    h`<h1>${name}</h1>
<p>${e.description ?? ""}</p>
<dl class="facts"><dt>Version</dt><dd>${e.version}</dd><dt>License</dt><dd>${e.license || "unknown"}</dd>
${e.url ? h`<dt>Upstream</dt><dd><a href="${/^https?:\/\//.test(e.url) ? e.url : "#"}" rel="noopener">${e.url}</a></dd>` : ""}
<dt>Origin</dt><dd>${link(cat, e.origin ?? name, "../")}</dd>
${upstreamFact(updates.get(e.origin ?? name))}
<dt>Architectures</dt><dd>${all.map((p) => `${p.arch} (${p.entry.version}, ${p.entry.fileSize} bytes)`).join(", ")}</dd></dl>
<h2>Depends on</h2>${list(deps, "Nothing.")}
<h2>Needed by</h2>${list(rdeps, "No package in this repository depends on it.")}
<h2>In images</h2>${list(
      [...inImages].filter(([, names]) => names.has(name)).map(([image]) => h`<a href="../images/${href(slug(image))}.html">${image}</a>`),
      "No image in the catalogue installs it.",
    )}
<h2>Provides</h2>${list(
      e.provides.map((p) => h`<code>${p}</code>`),
      "Only its name.",
    )}
${advisorySection(cat, name)}
${graphSection(graph, e.origin ?? name)}
<h2>SBOM</h2>${sbomSummary(top, sbomFile(top))}
${buildSection(top)}
<h2>Files (${top.files.length})</h2>${list(
      top.files.map((f) => h`<code>/${f}</code>`),
      "No files (or the .apk is not in the repository).",
    )}`,
  );
}

function sbomFile(p: CatalogPackage): string {
  return `${slug(p.name)}-${slug(p.entry.version)}.${p.arch}.spdx.json`;
}

function advisoriesPage(cat: Catalog): string {
  const rows = [...cat.advisories.values()]
    .sort((a, b) => (a.package < b.package ? -1 : 1))
    .flatMap((doc) =>
      doc.advisories.map((a) => {
        const latest = latestEvent(a);
        return h`<tr><td>${link(cat, doc.package, "")}</td><td><a href="packages/${href(slug(doc.package))}.html#${a.id}">${a.id}</a></td><td>${a.aliases.join(", ")}</td><td>${latest?.type ?? ""}</td><td>${latest?.timestamp ?? ""}</td></tr>`;
      }),
    );
  return page(
    "Advisories",
    "",
    h`<h1>Advisories</h1>${
      rows.length
        ? h`<table><thead><tr><th scope="col">Package</th><th scope="col">Advisory</th><th scope="col">Aliases</th><th scope="col">Latest event</th><th scope="col">When</th></tr></thead><tbody>${rows}</tbody></table>`
        : h`<p class="muted">No advisories.</p>`
    }`,
  );
}

function writeImages(cat: Catalog, images: CatalogImage[], out: string): number {
  const packageLink = (name: string, root: string) => link(cat, name, root);
  writeFileSync(join(out, "images.html"), imagesIndexPage(images));
  writeFileSync(join(out, "assets/compare.js"), COMPARE_JS);
  for (const img of images) {
    const dir = join(out, "images", slug(img.name));
    mkdirSync(join(dir, "sboms"), { recursive: true });
    writeFileSync(join(out, "images", `${slug(img.name)}.html`), imagePage(img, packageLink));
    writeFileSync(join(dir, "compare.html"), comparePage(img, packageLink));
    for (const v of img.versions) {
      for (const f of v.sbomFiles) writeFileSync(join(dir, "sboms", f), readSbomFile(img, f));
      for (const [f, bytes] of v.attestedSboms) writeFileSync(join(dir, "sboms", f), bytes);
    }
  }
  return 1 + 2 * images.length;
}

/** Writes the site into `out` (replacing what a previous build left there). */
export async function buildCatalog(opts: CatalogBuildOptions): Promise<CatalogBuildReport> {
  const cat = loadCatalog([opts.repository, ...(opts.repositoryAppend ?? [])], opts.advisories, opts.imageKeys);
  if (opts.out === "/" || opts.out === "") throw new UndistroError("USAGE", "refusing to write the catalogue over /");
  const advisories: AdvisoryDocument[] = [...cat.advisories.values()];
  const images: CatalogImage[] = [];
  for (const spec of opts.images ?? [])
    images.push(await loadImage(spec, { ...(opts.imageKeys ? { keys: opts.imageKeys } : {}), ...(opts.osv ? { osv: opts.osv } : {}), advisories }));
  const names = images.map((i) => i.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new UndistroError("USAGE", `two images are named ${twice}`, { hint: "name them: --image NAME=oci:DIR" });
  for (const d of ["packages", "assets", "sboms", "images"]) rmSync(join(opts.out, d), { recursive: true, force: true });
  for (const d of ["packages", "assets", "sboms", "provenance", "images"]) mkdirSync(join(opts.out, d), { recursive: true });
  writeFileSync(join(opts.out, "assets/catalog.css"), CSS + GRAPH_CSS);
  writeFileSync(join(opts.out, "assets/search.js"), SEARCH_JS);
  const entries = [...searchEntries(cat), ...imageSearchEntries(images)];
  writeFileSync(join(opts.out, "search.json"), JSON.stringify(entries));
  const updates = opts.updates ?? new Map<string, UpstreamState>();
  writeFileSync(join(opts.out, "index.html"), indexPage(cat, updates));
  writeFileSync(join(opts.out, "advisories.html"), advisoriesPage(cat));
  writeFileSync(
    join(opts.out, "rebuilds.html"),
    historyPage(readRebuildHistory(opts.repository), (name, root) => link(cat, name, root), new Set(images.map((i) => i.name))),
  );
  const graph = buildGraphOf(cat);
  writeFileSync(join(opts.out, "graph.html"), graphPage(graph));
  let pages = 4 + writeImages(cat, images, opts.out);
  const inImages = imageContents(images);
  for (const name of [...cat.packages.keys()].sort()) {
    writeFileSync(join(opts.out, "packages", `${slug(name)}.html`), packagePage(cat, name, inImages, graph, updates));
    pages++;
    for (const p of cat.packages.get(name) ?? []) {
      if (p.sbom) writeFileSync(join(opts.out, "sboms", sbomFile(p)), p.sbom);
      if (p.provenance) {
        mkdirSync(join(opts.out, "provenance", p.arch), { recursive: true });
        writeFileSync(join(opts.out, "provenance", p.provenance.file), p.provenance.text);
      }
    }
  }
  return { out: opts.out, packages: cat.packages.size, images: images.length, pages, searchEntries: entries.length };
}
