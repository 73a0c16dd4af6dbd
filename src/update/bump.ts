/**
 * Rewrites a recipe in place for a new upstream version (or a new epoch), through the yaml
 * library's document model so comments, key order, quoting and blank lines stay as they were: only
 * the version, epoch and pinned digests change. Every download is hashed here and left in the
 * source cache, so the build that follows does not fetch it again.
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { type Document, isMap, isScalar, isSeq, parseDocument, type YAMLMap } from "yaml";
import { isValidVersion } from "../apk/index.js";
import { archInfo, downloadSource, fetchSource, hostArch, recipeVars, substitute } from "../build/index.js";
import { parseRecipe } from "../recipe/index.js";
import { UndistroError, writeFileAtomic } from "../util/index.js";
import { gitLsRemote } from "./check.js";

export interface BumpResult {
  recipe: string;
  package: string;
  from: { version: string; epoch: number };
  to: { version: string; epoch: number };
  /** Digests and commits rewritten, by step. */
  pins: Array<{ step: string; field: string; value: string; uri?: string }>;
}

const EDIT = { schema: "failsafe" } as const;

/**
 * Scalar edits made on the source text itself (each scalar's byte range, in its own quoting style),
 * so everything else in the file stays byte for byte; only a field that has to be added goes
 * through the yaml library's serialiser (which is exact for nearly all, not all, recipes).
 */
class RecipeEdits {
  private readonly edits: Array<{ start: number; end: number; text: string }> = [];
  private structural = false;
  constructor(
    readonly doc: Document,
    private readonly file: string,
  ) {}

  set(path: Array<string | number>, value: string): void {
    const node = this.doc.getIn(path, true);
    if (isScalar(node) && node.range) {
      const quoted = node.type === "QUOTE_DOUBLE" ? JSON.stringify(value) : node.type === "QUOTE_SINGLE" ? `'${value.replace(/'/g, "''")}'` : value;
      this.edits.push({ start: node.range[0], end: node.range[1], text: quoted });
      node.value = value;
    } else if (node === undefined) {
      this.doc.setIn(path, value);
      this.structural = true;
    } else throw new UndistroError("RECIPE_INVALID", `${this.file}: ${path.join(".")} is not a scalar`);
  }

  text(original: string): string {
    if (this.structural) return this.doc.toString({ lineWidth: 0 });
    let out = original;
    for (const e of [...this.edits].sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);
    return out;
  }
}

/** Every step mapping in a pipeline sequence, nested pipelines included, with its YAML path. */
function stepNodes(seq: unknown, path: Array<string | number>): Array<{ node: YAMLMap; path: Array<string | number> }> {
  if (!isSeq(seq)) return [];
  const out: Array<{ node: YAMLMap; path: Array<string | number> }> = [];
  seq.items.forEach((item, i) => {
    if (!isMap(item)) return;
    out.push({ node: item, path: [...path, i] });
    out.push(...stepNodes(item.get("pipeline", true), [...path, i, "pipeline"]));
  });
  return out;
}

function formatPath(path: Array<string | number>): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

/** The commit a tag points at (peeled for annotated tags), from `git ls-remote`. */
function tagCommit(repository: string, tag: string, where: string): string {
  const out = gitLsRemote(repository, { refs: [`refs/tags/${tag}`, `refs/tags/${tag}^{}`] }, "UPDATE_BUMP", `${where}: `);
  const lines = out.trim().split("\n").filter(Boolean);
  const peeled = lines.find((l) => l.endsWith("^{}")) ?? lines[0];
  if (!peeled) throw new UndistroError("UPDATE_BUMP", `${where}: ${repository} has no tag ${tag}`);
  return peeled.split("\t")[0] as string;
}

/**
 * Sets `package.version` (and `package.epoch` to 0), re-pins every fetch (expected-sha256/512, by
 * downloading the new tarball) and git-checkout (expected-commit, from the tag). Nothing is written
 * unless every download and lookup succeeded and the result loads as a valid recipe.
 */
export async function bumpRecipe(file: string, version: string, opts: { cacheDir?: string; epoch?: number } = {}): Promise<BumpResult> {
  if (!isValidVersion(version) || version.includes("-r")) {
    throw new UndistroError("USAGE", `"${version}" is not an upstream version apk can carry (like 1.3.1; the -rN epoch is separate)`);
  }
  const text = readFileSync(file, "utf8");
  const before = parseRecipe(text, file);
  const doc = parseDocument(text, EDIT);
  const edits = new RecipeEdits(doc, file);
  const epoch = opts.epoch ?? 0;
  edits.set(["package", "version"], version);
  edits.set(["package", "epoch"], String(epoch));
  const recipe = parseRecipe(edits.text(text), file);
  const vars = recipeVars(recipe, archInfo(hostArch()));
  const pins: BumpResult["pins"] = [];
  const tmp = mkdtempSync(join(tmpdir(), "undistro-bump-"));
  try {
    const steps = [...stepNodes(doc.get("pipeline", true), ["pipeline"])];
    const subs = doc.get("subpackages", true);
    if (isSeq(subs)) {
      for (const [i, sp] of subs.items.entries()) if (isMap(sp)) steps.push(...stepNodes(sp.get("pipeline", true), ["subpackages", i, "pipeline"]));
    }
    for (const { node, path } of steps) {
      const uses = node.get("uses");
      const w = node.get("with", true);
      if (!isMap(w)) continue;
      const where = `${file}: ${formatPath(path)}`;
      if (uses === "fetch") {
        const template = String(w.get("uri") ?? "");
        const uri = substitute(template, vars, `${formatPath(path)}.with.uri`);
        const dir = join(tmp, String(pins.length));
        mkdirSync(dir);
        const dest = join(dir, basename(new URL(uri, "file:///").pathname) || "source");
        await downloadSource(uri, dest, where);
        const data = readFileSync(dest);
        const sha256 = createHash("sha256").update(data).digest("hex");
        if (w.has("expected-sha512")) {
          const sha512 = createHash("sha512").update(data).digest("hex");
          edits.set([...path, "with", "expected-sha512"], sha512);
          pins.push({ step: formatPath(path), field: "expected-sha512", value: sha512, uri });
        }
        if (w.has("expected-sha256") || !w.has("expected-sha512")) {
          edits.set([...path, "with", "expected-sha256"], sha256);
          pins.push({ step: formatPath(path), field: "expected-sha256", value: sha256, uri });
        }
        // Into the source cache by digest, so the build finds it without downloading again.
        await fetchSource({ uri, sha256, where }, { mirrors: [dir], ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}) });
      } else if (uses === "git-checkout" && w.has("expected-commit")) {
        const repository = substitute(String(w.get("repository") ?? ""), vars, `${formatPath(path)}.with.repository`);
        const tag = w.get("tag");
        if (!tag) throw new UndistroError("UPDATE_BUMP", `${where}: expected-commit without a tag: bump the commit by hand`);
        const commit = tagCommit(repository, substitute(String(tag), vars, `${formatPath(path)}.with.tag`), where);
        edits.set([...path, "with", "expected-commit"], commit);
        pins.push({ step: formatPath(path), field: "expected-commit", value: commit });
      }
    }
    const out = edits.text(text);
    parseRecipe(out, file);
    writeFileAtomic(file, Buffer.from(out));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return {
    recipe: file,
    package: before.package.name,
    from: { version: before.package.version, epoch: before.package.epoch },
    to: { version, epoch },
    pins,
  };
}

/** Raises `package.epoch` by one (a dependent rebuilt against a changed dependency), keeping the file's formatting. */
export function bumpEpoch(file: string): BumpResult {
  const text = readFileSync(file, "utf8");
  const before = parseRecipe(text, file);
  const edits = new RecipeEdits(parseDocument(text, EDIT), file);
  const epoch = before.package.epoch + 1;
  edits.set(["package", "epoch"], String(epoch));
  const out = edits.text(text);
  parseRecipe(out, file);
  writeFileAtomic(file, Buffer.from(out));
  return {
    recipe: file,
    package: before.package.name,
    from: { version: before.package.version, epoch: before.package.epoch },
    to: { version: before.package.version, epoch },
    pins: [],
  };
}
