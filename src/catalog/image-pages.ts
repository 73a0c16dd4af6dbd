/**
 * The catalogue's image pages: one per image (versions, per platform sizes, layers and packages,
 * signature and attestation checks, SBOM downloads, vulnerabilities with the advisories applied,
 * what changed since the previous version) and a comparison page for any two versions.
 */
import { h, href, page, Raw, slug } from "./html.js";
import { type CatalogImage, diffVersions, type ImagePlatformInfo, type ImageVersion } from "./images.js";

/** What a page needs to link a package name to its page (undefined: not in the catalogue). */
export type PackageLink = (name: string, root: string) => Raw;

const SEVERITY_ORDER = ["critical", "high", "medium", "low", "unknown"];

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

const short = (digest: string) => digest.replace(/^sha256:/, "").slice(0, 12);
export const versionId = (v: ImageVersion) => `v-${short(v.digest)}`;
const label = (v: ImageVersion) => `${v.tags.join(", ")} (${short(v.digest)})`;

function signatureBadge(v: ImageVersion): Raw {
  if (!v.verification.checked) return h`<span class="bad">not verified (no trusted key given)</span>`;
  const failed = v.verification.checks.filter((c) => !c.ok).length;
  if (failed) return h`<span class="bad">${failed} check${failed === 1 ? "" : "s"} failed</span>`;
  return v.verification.signed ? h`<span class="good">signed, verified</span>` : h`<span class="bad">unsigned</span>`;
}

function vulnerabilityBadge(v: ImageVersion): Raw {
  const vs = v.vulnerabilities;
  if (!vs) return h`<span class="muted">not scanned</span>`;
  const parts = SEVERITY_ORDER.filter((s) => (vs.counts[s] ?? 0) > 0).map((s) => `${vs.counts[s]} ${s}`);
  return parts.length ? h`<span class="bad">${parts.join(", ")}</span>` : h`<span class="good">none open</span>`;
}

export function imagesIndexPage(images: CatalogImage[]): string {
  const rows = images.map((img) => {
    const v = img.versions[img.versions.length - 1] as ImageVersion;
    return h`<tr><td><a href="images/${href(slug(img.name))}.html">${img.name}</a></td><td>${v.tags.join(", ")}</td><td><code>${short(v.digest)}</code></td><td>${v.platforms
      .map((p) => p.platform)
      .join(
        ", ",
      )}</td><td>${Math.max(0, ...v.platforms.map((p) => p.packages.length))}</td><td>${signatureBadge(v)}</td><td>${vulnerabilityBadge(v)}</td></tr>`;
  });
  return page(
    "Images",
    "",
    h`<h1>Images</h1>${
      rows.length
        ? h`<table><thead><tr><th scope="col">Image</th><th scope="col">Newest tags</th><th scope="col">Digest</th><th scope="col">Platforms</th><th scope="col">Packages</th><th scope="col">Signature</th><th scope="col">Vulnerabilities</th></tr></thead><tbody>${rows}</tbody></table>`
        : h`<p class="muted">No images were given to the catalogue (undistro catalog build --image oci:DIR).</p>`
    }`,
  );
}

function platformSection(p: ImagePlatformInfo, link: PackageLink): Raw {
  return h`<h4>${p.platform}</h4>
<dl class="facts"><dt>Manifest</dt><dd><code>${p.digest}</code></dd><dt>Size</dt><dd>${bytes(p.size)} compressed, ${bytes(p.uncompressedSize)} unpacked</dd></dl>
<table><caption class="muted">Layers</caption><thead><tr><th scope="col">Layer</th><th scope="col">Holds</th><th scope="col">Compressed</th><th scope="col">Unpacked</th></tr></thead><tbody>${p.layers.map(
    (l) => h`<tr><td><code>${short(l.digest)}</code></td><td>${l.title ?? ""}</td><td>${bytes(l.size)}</td><td>${bytes(l.uncompressedSize)}</td></tr>`,
  )}</tbody></table>
<table><caption class="muted">Packages (${p.packages.length})</caption><thead><tr><th scope="col">Package</th><th scope="col">Version</th><th scope="col">Origin</th></tr></thead><tbody>${p.packages.map(
    (x) => h`<tr><td>${link(x.name, "../")}</td><td>${x.version}</td><td>${x.origin}</td></tr>`,
  )}</tbody></table>`;
}

function checksSection(v: ImageVersion): Raw {
  if (!v.verification.checked)
    return h`<p class="bad">Signatures and attestations were NOT checked: the catalogue was built without a trusted image key (--keyring).</p>`;
  if (!v.verification.checks.length) return h`<p class="bad">No signature or attestation is attached to this version.</p>`;
  return h`<p class="muted">Checked by undistro when the catalogue was built, offline, with the trusted keys it was given.</p><ul>${v.verification.checks.map(
    (c) => h`<li><span class="${c.ok ? "good" : "bad"}">${c.ok ? "verified" : "FAILED"}</span> ${c.what}: ${c.reason}</li>`,
  )}</ul>`;
}

function vulnerabilitySection(v: ImageVersion, link: PackageLink): Raw {
  const vs = v.vulnerabilities;
  if (!vs) return h`<p class="muted">Not scanned: the catalogue was built without a vulnerability database (--db OSV_DIR).</p>`;
  const counts = SEVERITY_ORDER.map((s) => `${vs.counts[s] ?? 0} ${s}`).join(", ");
  return h`<p>${counts}; ${vs.resolved} more resolved by the distro's advisories (fixed or not affected).</p>${
    vs.findings.length
      ? h`<table><caption class="muted">Open findings</caption><thead><tr><th scope="col">Vulnerability</th><th scope="col">Severity</th><th scope="col">Package</th><th scope="col">Fixed in</th><th scope="col">Advisory</th></tr></thead><tbody>${vs.findings.map(
          (f) =>
            h`<tr><td>${f.vulnerability}${f.aliases.length ? h` <span class="muted">${f.aliases.join(", ")}</span>` : ""}</td><td>${f.severity}</td><td>${link(f.package, "../")} ${f.version}</td><td>${f.fixedVersion ?? ""}</td><td>${f.advisory ? `${f.advisory.id}: ${f.advisory.status}` : ""}</td></tr>`,
        )}</tbody></table>`
      : ""
  }`;
}

/** The changes between two versions as HTML (the same rendering the comparison page's script makes). */
export function diffSection(from: ImageVersion, to: ImageVersion, link: PackageLink): Raw {
  const d = diffVersions(from, to);
  const same = d.platforms.every((p) => !p.added.length && !p.removed.length && !p.changed.length);
  return h`<div class="diff"><p>From <code>${label(from)}</code> to <code>${label(to)}</code>.</p>${
    same ? h`<p>The same packages on every platform.</p>` : ""
  }${d.platforms.map((p) =>
    p.added.length || p.removed.length || p.changed.length
      ? h`<h4>${p.platform}</h4><ul>${p.added.map((x) => h`<li class="added">added ${link(x.name, "../")} ${x.version}</li>`)}${p.removed.map(
          (x) => h`<li class="removed">removed ${link(x.name, "../")} ${x.version}</li>`,
        )}${p.changed.map((x) => h`<li class="changed">${link(x.name, "../")} ${x.from} → ${x.to}</li>`)}</ul>`
      : "",
  )}<p>Vulnerabilities gained: ${d.cvesGained.length ? d.cvesGained.join(", ") : "none"}; lost: ${d.cvesLost.length ? d.cvesLost.join(", ") : "none"}${
    from.vulnerabilities && to.vulnerabilities ? "" : " (not scanned)"
  }.</p></div>`;
}

function versionSection(img: CatalogImage, v: ImageVersion, link: PackageLink, open: boolean): Raw {
  const body = h`<h3 id="${versionId(v)}">${v.tags.join(", ")} <span class="muted">${v.digest}</span></h3>
<h4>SBOMs</h4>${
    v.sbomFiles.length || v.attestedSboms.size
      ? h`<ul>${v.sbomFiles.map((f) => h`<li><a href="${href(slug(img.name))}/sboms/${href(f)}" download>${f}</a> <span class="muted">(beside the layout)</span></li>`)}${[
          ...v.attestedSboms.keys(),
        ].map(
          (f) => h`<li><a href="${href(slug(img.name))}/sboms/${href(f)}" download>${f}</a> <span class="good">(attested, signature verified)</span></li>`,
        )}</ul>`
      : h`<p class="muted">No SBOM file beside the layout names this version, and no verified SBOM attestation is attached.</p>`
  }
<h4>Signature and attestations</h4>${checksSection(v)}
<h4>Vulnerabilities</h4>${vulnerabilitySection(v, link)}
${v.platforms.map((p) => platformSection(p, link))}`;
  return open ? body : h`<details><summary>${label(v)}</summary>${body}</details>`;
}

export function imagePage(img: CatalogImage, link: PackageLink): string {
  const newest = img.versions[img.versions.length - 1] as ImageVersion;
  const previous = img.versions[img.versions.length - 2];
  const rows = [...img.versions]
    .reverse()
    .map(
      (v) =>
        h`<tr><td><a href="#${versionId(v)}">${v.tags.join(", ")}</a></td><td><code>${short(v.digest)}</code></td><td>${v.platforms
          .map((p) => `${p.platform}: ${bytes(p.size)} / ${bytes(p.uncompressedSize)}`)
          .join("; ")}</td><td>${signatureBadge(v)}</td><td>${vulnerabilityBadge(v)}</td></tr>`,
    );
  return page(
    img.name,
    "../",
    h`<h1>${img.name}</h1>
<table><caption class="muted">Versions, newest first (size compressed / unpacked)</caption><thead><tr><th scope="col">Tags</th><th scope="col">Digest</th><th scope="col">Platforms</th><th scope="col">Signature</th><th scope="col">Vulnerabilities</th></tr></thead><tbody>${rows}</tbody></table>
<h2>Changes since the previous version</h2>${previous ? diffSection(previous, newest, link) : h`<p class="muted">Only one version.</p>`}
<p><a href="${href(slug(img.name))}/compare.html">Compare any two versions</a></p>
<h2>Newest version</h2>${versionSection(img, newest, link, true)}
${img.versions.length > 1 ? h`<h2>Earlier versions</h2>${[...img.versions.slice(0, -1)].reverse().map((v) => versionSection(img, v, link, false))}` : ""}`,
  );
}

/** The data the comparison script works on: per version, per platform, package → version; the open CVEs. */
export function compareData(img: CatalogImage): Record<string, unknown> {
  return {
    versions: img.versions.map((v) => ({
      digest: v.digest,
      label: label(v),
      scanned: v.vulnerabilities !== undefined,
      cves: [...new Set((v.vulnerabilities?.findings ?? []).map((f) => f.vulnerability))].sort(),
      platforms: Object.fromEntries(v.platforms.map((p) => [p.platform, Object.fromEntries(p.packages.map((x) => [x.name, x.version]))])),
    })),
  };
}

/**
 * JSON inside a script element, which HTML does not entity-decode: raw, with every `<` written as
 * \u003c so no value can close the element or open a comment.
 */
function scriptJson(value: unknown): Raw {
  return new Raw(JSON.stringify(value).replace(/</g, "\\u003c"));
}

export function comparePage(img: CatalogImage, link: PackageLink): string {
  const newest = img.versions[img.versions.length - 1] as ImageVersion;
  const from = img.versions[img.versions.length - 2] ?? newest;
  const options = (selected: ImageVersion) =>
    [...img.versions].reverse().map((v) => h`<option value="${v.digest}"${v === selected ? h` selected` : ""}>${label(v)}</option>`);
  // Rendered once here for the newest two (the page reads without JavaScript); the script redoes it
  // for whichever two are chosen, from the data below.
  return page(
    `${img.name}: compare versions`,
    "../../",
    h`<h1>${img.name}: compare two versions</h1>
<p><a href="../${href(slug(img.name))}.html">Back to ${img.name}</a></p>
<form id="compare" onsubmit="return false">
<label for="from">From</label><select id="from" name="from">${options(from)}</select>
<label for="to">To</label><select id="to" name="to">${options(newest)}</select>
</form>
<section id="diff" aria-live="polite">${diffSection(from, newest, link)}</section>
<script type="application/json" id="versions">${scriptJson(compareData(img))}</script>
<script src="../../assets/compare.js" defer></script>`,
  );
}

/**
 * The comparison page's script: the diff of the two chosen versions, built with textContent only
 * (package names and versions are data, never markup). The same rules as diffVersions.
 */
export const COMPARE_JS = `"use strict";
(function () {
  var data = JSON.parse(document.getElementById("versions").textContent);
  var from = document.getElementById("from");
  var to = document.getElementById("to");
  var out = document.getElementById("diff");
  function byDigest(d) { return data.versions.filter(function (v) { return v.digest === d; })[0]; }
  function el(tag, text, cls) { var e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; }
  function render() {
    var a = byDigest(from.value), b = byDigest(to.value);
    if (!a || !b) return;
    while (out.firstChild) out.removeChild(out.firstChild);
    var box = el("div", undefined, "diff");
    box.appendChild(el("p", "From " + a.label + " to " + b.label + "."));
    var names = Object.keys(a.platforms).concat(Object.keys(b.platforms)).filter(function (x, i, all) { return all.indexOf(x) === i; }).sort();
    var any = false;
    names.forEach(function (p) {
      var pa = a.platforms[p] || {}, pb = b.platforms[p] || {};
      var added = [], removed = [], changed = [];
      Object.keys(pb).sort().forEach(function (n) {
        if (!(n in pa)) added.push(["added", "added " + n + " " + pb[n]]);
        else if (pa[n] !== pb[n]) changed.push(["changed", n + " " + pa[n] + " \\u2192 " + pb[n]]);
      });
      Object.keys(pa).sort().forEach(function (n) { if (!(n in pb)) removed.push(["removed", "removed " + n + " " + pa[n]]); });
      var items = added.concat(removed, changed);
      if (!items.length) return;
      any = true;
      box.appendChild(el("h4", p));
      var ul = el("ul");
      items.forEach(function (it) { ul.appendChild(el("li", it[1], it[0])); });
      box.appendChild(ul);
    });
    if (!any) box.insertBefore(el("p", "The same packages on every platform."), box.childNodes[1] || null);
    var gained = b.cves.filter(function (c) { return a.cves.indexOf(c) < 0; });
    var lost = a.cves.filter(function (c) { return b.cves.indexOf(c) < 0; });
    box.appendChild(el("p", "Vulnerabilities gained: " + (gained.length ? gained.join(", ") : "none") + "; lost: " + (lost.length ? lost.join(", ") : "none") + (a.scanned && b.scanned ? "" : " (not scanned)") + "."));
    out.appendChild(box);
  }
  from.addEventListener("change", render);
  to.addEventListener("change", render);
})();
`;
