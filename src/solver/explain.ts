/**
 * Explains an unsatisfiable world the way apk does ("ERROR: unable to select packages:" and, per
 * package, what masks it, what it conflicts with, what it breaks and what it satisfies), so users
 * who know apk's messages read ours without learning anew. The same walk also yields a structured
 * explanation for callers that want data instead of text.
 */
import { DEP_CONFLICTS, DEP_SATISFIES, depAnalyze, depString, isConflict } from "./dep-match.js";
import { DEFAULT_PINNING_MASK, type Dep, type Name, type PackageDb, type Pkg, REPOSITORY_CACHED } from "./model.js";
import type { Changeset } from "./solve.js";

const STATE_PRESENT = 0x80000000;
const STATE_MISSING = 0x40000000;
const STATE_VIRTUAL_ONLY = 0x20000000;
const STATE_INSTALLIF = 0x10000000;
const STATE_COUNT_MASK = 0x0000ffff;

/** apk's word-wrapping printer (50 columns when not on a terminal, as apk's tests run). */
export class IndentedWriter {
  text = "";
  private x = 0;
  private indent = 0;
  constructor(private readonly width = 50) {}
  line(s: string): void {
    this.text += s;
    this.x = 0;
    this.indent = 0;
  }
  group(indent: number, s: string): void {
    this.text += s;
    this.x = s.length;
    this.indent = indent || this.x + 1;
    if (s.endsWith("\n")) this.x = 0;
  }
  end(): void {
    if (this.x) {
      this.text += "\n";
      this.x = 0;
      this.indent = 0;
    }
  }
  word(w: string): void {
    if (this.x <= this.indent) {
      this.text += " ".repeat(this.indent - this.x) + w;
      this.x = this.indent + w.length;
    } else if (this.x + w.length + 1 >= this.width) {
      this.text += `\n${" ".repeat(this.indent)}${w}`;
      this.x = this.indent + w.length;
    } else {
      this.text += ` ${w}`;
      this.x += 1 + w.length;
    }
  }
  /** apk's label_start: begin a "    label:" group unless a line is already in progress. */
  groupIfStart(s: string): void {
    if (!this.x) this.group(0, s);
  }
  words(s: string): void {
    for (const w of s.split(" ")) if (w) this.word(w);
  }
}

/** One problem package or name, as data. */
export interface Problem {
  /** "pkg-1.2", "name (virtual)" or "name (no such package)". */
  subject: string;
  /** label → items, e.g. "breaks:" → ["world[d<1.5]"]. */
  reasons: Array<{ label: string; items: string[] }>;
}

class ErrorPrinter {
  readonly w = new IndentedWriter();
  readonly problems: Problem[] = [];
  private label: string | null = null;
  numLabels = 0;
  private match = 0;
  private readonly marked = new Set<Pkg>();
  private readonly nameState = new Map<Name, number>();
  private readonly pkgState = new Map<Pkg, number>();
  private current: { label: string; items: string[] } | null = null;

  constructor(
    private readonly db: PackageDb,
    private readonly world: Dep[],
  ) {}

  private ns(n: Name): number {
    return this.nameState.get(n) ?? 0;
  }
  private setNs(n: Name, v: number): void {
    this.nameState.set(n, v >>> 0);
  }

  private labelStart(text: string): void {
    if (this.label !== null) {
      this.w.line(`  ${this.label}:\n`);
      this.problems.push({ subject: this.label, reasons: [] });
      this.label = null;
      this.numLabels++;
    }
    const last = this.problems[this.problems.length - 1];
    if (this.current === null || this.current.label !== text) {
      this.current = { label: text, items: [] };
      last?.reasons.push(this.current);
    }
    this.w.groupIfStart(`    ${text}`);
  }
  private labelEnd(): void {
    this.w.end();
    this.current = null;
  }
  private item(s: string): void {
    this.current?.items.push(s);
    this.w.word(s);
  }

  private printPinningErrors(pkg: Pkg, tag: number): void {
    if (pkg.ipkg !== null) return;
    if (!(pkg.repos & this.db.availableRepos())) {
      this.labelStart("masked in:");
      this.item("--no-network");
    } else if (pkg.repos === 1 << REPOSITORY_CACHED) {
      // apk: only in the cache and not a file given on the command line (undistro takes none).
      this.labelStart("masked in:");
      this.item("cache");
    } else {
      if (pkg.repos & this.db.pinningMaskRepos(DEFAULT_PINNING_MASK | (1 << tag))) return;
      this.db.tags.forEach((t) => {
        if (pkg.repos & t.allowedRepos) {
          this.labelStart("masked in:");
          this.item(t.tag);
        }
      });
    }
    this.labelEnd();
  }

  private printConflicts(pkg: Pkg): void {
    for (const p of pkg.name.providers) {
      if (p.pkg === pkg || !this.marked.has(p.pkg)) continue;
      this.labelStart("conflicts:");
      this.item(String(p.pkg));
    }
    for (const d of pkg.provides) {
      let once = true;
      for (const p of d.name.providers) {
        if (!this.marked.has(p.pkg)) continue;
        if (d.version === null && p.version === null) continue;
        if (once && p.pkg === pkg && p.version === d.version) {
          once = false;
          continue;
        }
        this.labelStart("conflicts:");
        this.item(`${p.pkg}[${depString(d)}]`);
      }
    }
    this.labelEnd();
  }

  private printDep(pkg0: Pkg | null, d0: Dep): void {
    this.labelStart(this.match & DEP_SATISFIES ? "satisfies:" : "breaks:");
    this.item(pkg0 === null ? `world[${depString(d0)}]` : `${pkg0}[${depString(d0)}]`);
  }

  private printDeps(pkg: Pkg, match: number): void {
    this.match = match;
    for (const d of this.world) if (depAnalyze(null, d, pkg) & match) this.printDep(null, d);
    const seen = new Set<Pkg>();
    const visit = (rdepends: Name[]) => {
      for (const name0 of rdepends) {
        for (const p0 of name0.providers) {
          const pkg0 = p0.pkg;
          if (!this.marked.has(pkg0) || seen.has(pkg0)) continue;
          seen.add(pkg0);
          for (const d0 of pkg0.depends) if (depAnalyze(pkg0, d0, pkg) & match) this.printDep(pkg0, d0);
        }
      }
    };
    visit(pkg.name.rdepends);
    for (const p of pkg.provides) visit(p.name.rdepends);
    this.labelEnd();
  }

  private analyzePackage(pkg: Pkg, tag: number): void {
    this.label = String(pkg);
    this.printPinningErrors(pkg, tag);
    this.printConflicts(pkg);
    this.printDeps(pkg, DEP_CONFLICTS);
    if (this.label === null) this.printDeps(pkg, DEP_SATISFIES);
    this.label = null;
  }

  private analyzeMissingName(name: Name): void {
    if (name.providers.length > 0) {
      this.label = `${name.name} (virtual)`;
      this.labelStart("note:");
      this.current?.items.push("please select one of the 'provided by' packages explicitly");
      this.w.words("please select one of the 'provided by' packages explicitly");
      this.labelEnd();
      this.labelStart("provided by:");
      for (const p0 of name.providers) this.setNs(p0.pkg.name, this.ns(p0.pkg.name) + 1);
      for (const p0 of name.providers) {
        const name0 = p0.pkg.name;
        const refs = this.ns(name0) & STATE_COUNT_MASK;
        if (refs === name0.providers.length) {
          this.item(name0.name);
          this.setNs(name0, this.ns(name0) & ~STATE_COUNT_MASK);
        } else if (refs > 0) {
          this.item(String(p0.pkg));
          this.setNs(name0, this.ns(name0) - 1);
        }
      }
      this.labelEnd();
    } else {
      this.label = `${name.name} (no such package)`;
    }
    this.labelStart("required by:");
    for (const d0 of this.world) {
      if (d0.name !== name || isConflict(d0)) continue;
      this.item(`world[${depString(d0)}]`);
    }
    const seen = new Set<Pkg>();
    for (const name0 of name.rdepends) {
      for (const p0 of name0.providers) {
        if (!this.marked.has(p0.pkg) || seen.has(p0.pkg)) continue;
        seen.add(p0.pkg);
        const d0 = p0.pkg.depends.find((d) => d.name === name && !isConflict(d));
        if (d0) this.item(`${p0.pkg}[${depString(d0)}]`);
        break;
      }
    }
    this.labelEnd();
    this.label = null;
  }

  private analyzeDeps(deps: Dep[]): void {
    for (const d0 of deps) {
      if (isConflict(d0)) continue;
      if (this.ns(d0.name) & (STATE_INSTALLIF | STATE_PRESENT | STATE_MISSING)) continue;
      this.setNs(d0.name, this.ns(d0.name) | STATE_MISSING);
      this.analyzeMissingName(d0.name);
    }
  }

  private discoverReverseIif(name: Name): void {
    for (const name0 of name.rinstallIf) {
      for (const p of name0.providers) {
        if (!this.marked.has(p.pkg) || p.pkg.installIf.length === 0) continue;
        let ok = true;
        for (const d of p.pkg.installIf) {
          if (isConflict(d) === ((this.ns(d.name) & (STATE_PRESENT | STATE_INSTALLIF)) !== 0)) {
            ok = false;
            break;
          }
        }
        if (ok) {
          this.discoverName(p.pkg.name, STATE_INSTALLIF);
          for (const d of p.pkg.provides) this.discoverName(d.name, STATE_INSTALLIF);
        }
      }
    }
  }

  private discoverName(name: Name, pkgStateIn: number): void {
    for (const p of name.providers) {
      let state = pkgStateIn;
      if (!this.marked.has(p.pkg)) continue;
      if ((state === STATE_PRESENT || state === STATE_INSTALLIF) && !p.pkg.providerPriority && !isNameConcrete(p.pkg, name)) state = STATE_VIRTUAL_ONLY;
      const ps = this.pkgState.get(p.pkg) ?? 0;
      if (ps & state) continue;
      this.pkgState.set(p.pkg, (ps | state) >>> 0);
      this.setNs(p.pkg.name, this.ns(p.pkg.name) | state);
      for (const d of p.pkg.provides) {
        let depState = state;
        if (depState === STATE_INSTALLIF && d.version === null) depState = STATE_VIRTUAL_ONLY;
        this.setNs(d.name, this.ns(d.name) | depState);
      }
      this.discoverDeps(p.pkg.depends);
      if (state === STATE_PRESENT || state === STATE_INSTALLIF) {
        this.discoverReverseIif(p.pkg.name);
        for (const d of p.pkg.provides) this.discoverReverseIif(d.name);
      }
    }
  }

  private discoverDeps(deps: Dep[]): void {
    for (const d of deps) if (!isConflict(d)) this.discoverName(d.name, STATE_PRESENT);
  }

  run(changeset: Changeset): void {
    for (const c of changeset.changes) if (c.newPkg) this.marked.add(c.newPkg);
    this.discoverDeps(this.world);
    this.analyzeDeps(this.world);
    for (const c of changeset.changes) {
      if (!c.newPkg) continue;
      this.analyzePackage(c.newPkg, c.newTag);
      this.analyzeDeps(c.newPkg.depends);
    }
    if (!this.numLabels) this.w.line("Huh? Error reporter did not find the broken constraints.\n");
  }
}

function isNameConcrete(pkg: Pkg, name: Name): boolean {
  if (pkg.name === name) return true;
  return pkg.provides.some((d) => d.name === name && d.version !== null);
}

export interface Explanation {
  /** apk's text, starting "ERROR: unable to select packages:". */
  text: string;
  problems: Problem[];
}

/** Explains why `world` could not be satisfied, from the failed solve's changeset. */
export function explainFailure(db: PackageDb, world: Dep[], changeset: Changeset): Explanation {
  const printer = new ErrorPrinter(db, world);
  printer.run(changeset);
  return { text: `ERROR: unable to select packages:\n${printer.w.text}`, problems: printer.problems };
}
