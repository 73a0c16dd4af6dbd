/**
 * How one search entry matches a query (the best reason, ranked: lower is better), as page script;
 * kept apart so the benchmark runs the very code the page runs.
 */
export const SEARCH_MATCH_JS = `(function () {
  // One match per entry: the best reason it matched, ranked (lower is better).
  return function match(e, q, lower) {
    if (/^(cmd|so|pc):/.test(lower)) {
      var p = e.p.filter(function (x) { return x.toLowerCase().indexOf(lower) === 0; });
      return p.length ? { rank: p[0].toLowerCase() === lower ? 0 : 1, why: p.slice(0, 3).join(", ") } : null;
    }
    if (/^(cve|ghsa|cga|uda)-/.test(lower)) {
      var c = e.c.filter(function (x) { return x.toLowerCase().indexOf(lower) === 0; });
      return c.length ? { rank: 0, why: c.slice(0, 3).join(", ") } : null;
    }
    if (q.indexOf("/") >= 0) {
      var path = lower.replace(/^\\/+/, "");
      var f = e.f.filter(function (x) { return x.toLowerCase().indexOf(path) >= 0; });
      return f.length ? { rank: 1, why: "/" + f.slice(0, 3).join(", /") } : null;
    }
    var n = e.n.toLowerCase();
    if (n === lower) return { rank: 0, why: "" };
    if (n.indexOf(lower) === 0) return { rank: 1, why: "" };
    if (n.indexOf(lower) >= 0) return { rank: 2, why: "" };
    if (e.d.toLowerCase().indexOf(lower) >= 0) return { rank: 3, why: "description" };
    return null;
  }
})()`;

/**
 * The search box's script, shipped as a file beside the pages (no framework, no network: it reads
 * search.json from the same site). It builds results with textContent only: package names and
 * descriptions are data from packages, never markup.
 */
export const SEARCH_JS = `"use strict";
(function () {
  var input = document.getElementById("q");
  var out = document.getElementById("results");
  var count = document.getElementById("count");
  if (!input || !out || !count) return;
  var entries = null;
  function load() {
    if (entries) return Promise.resolve(entries);
    return fetch("search.json").then(function (r) { return r.json(); }).then(function (e) { entries = e; return e; });
  }
  function slug(name) {
    return name.replace(/[^A-Za-z0-9+._-]/g, function (c) { return "%25" + c.charCodeAt(0).toString(16).padStart(2, "0"); }).replace(/^\\./, "%252e");
  }
  var match = ${SEARCH_MATCH_JS};
  function show(q) {
    var lower = q.trim().toLowerCase();
    while (out.firstChild) out.removeChild(out.firstChild);
    if (!lower) { count.textContent = ""; return; }
    load().then(function (all) {
      var hits = [];
      for (var i = 0; i < all.length; i++) {
        var m = match(all[i], q.trim(), lower);
        if (m) hits.push({ e: all[i], m: m });
      }
      hits.sort(function (a, b) { return a.m.rank - b.m.rank || (a.e.n < b.e.n ? -1 : 1); });
      count.textContent = hits.length + (hits.length === 1 ? " result matches" : " results match") + (hits.length > 50 ? "; the first 50:" : "");
      hits.slice(0, 50).forEach(function (h) {
        var li = document.createElement("li");
        var a = document.createElement("a");
        a.href = (h.e.k === "image" ? "images/" : "packages/") + slug(h.e.n) + ".html";
        a.textContent = h.e.n;
        li.appendChild(a);
        if (h.e.k === "image") li.appendChild(document.createTextNode(" (image)"));
        li.appendChild(document.createTextNode(" " + h.e.v + (h.e.d ? " — " + h.e.d : "")));
        if (h.m.why) {
          var why = document.createElement("span");
          why.className = "muted";
          why.textContent = " (" + h.m.why + ")";
          li.appendChild(why);
        }
        out.appendChild(li);
      });
    });
  }
  input.addEventListener("input", function () { show(input.value); });
  var initial = new URLSearchParams(location.search).get("q");
  if (initial) { input.value = initial; show(initial); }
})();
`;
