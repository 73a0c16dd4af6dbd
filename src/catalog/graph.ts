/**
 * The build graph as a picture: which source packages (origins) built which, from the build records
 * the packages carry (each record names its build environment). Drawn here as SVG by a small
 * layered layout (columns by longest path from the roots, rows ordered by the mean row of the
 * packages that built them): a build graph is a DAG apart from self-hosting edges, which are left
 * out, and a graph library with a layout engine would be a large dependency for one picture.
 */
import { h, href, type Raw, slug } from "./html.js";
import type { Catalog } from "./model.js";

/** origin → the origins whose packages were in its build environment. */
export type BuildGraph = Map<string, Set<string>>;

export function buildGraphOf(cat: Catalog): BuildGraph {
  const originOf = new Map<string, string>();
  for (const [name, list] of cat.packages) for (const p of list) originOf.set(name, p.entry.origin ?? name);
  const graph: BuildGraph = new Map();
  for (const [name, list] of cat.packages) {
    const origin = originOf.get(name) ?? name;
    const inputs = graph.get(origin) ?? new Set<string>();
    for (const p of list)
      for (const env of p.record?.environment.packages ?? []) {
        const from = originOf.get(env.name);
        if (from && from !== origin) inputs.add(from);
      }
    graph.set(origin, inputs);
  }
  return graph;
}

/** `target` and every origin that went into building it, transitively. */
export function buildClosure(graph: BuildGraph, target: string): Set<string> {
  const seen = new Set<string>([target]);
  const stack = [target];
  for (let n = stack.pop(); n !== undefined; n = stack.pop())
    for (const m of graph.get(n) ?? [])
      if (!seen.has(m)) {
        seen.add(m);
        stack.push(m);
      }
  return seen;
}

interface Placed {
  column: number;
  row: number;
}

/** Columns by longest path from the roots (cycles broken where the walk finds them), rows by barycentre. */
function layout(graph: BuildGraph, nodeList: string[]): Map<string, Placed> {
  const nodes = new Set(nodeList);
  const column = new Map<string, number>();
  const visiting = new Set<string>();
  const depth = (n: string): number => {
    const known = column.get(n);
    if (known !== undefined) return known;
    if (visiting.has(n)) return 0;
    visiting.add(n);
    let d = 0;
    for (const m of graph.get(n) ?? []) if (nodes.has(m)) d = Math.max(d, depth(m) + 1);
    visiting.delete(n);
    column.set(n, d);
    return d;
  };
  for (const n of nodes) depth(n);
  const columns: string[][] = [];
  for (const n of [...nodes].sort()) {
    const c = column.get(n) ?? 0;
    columns[c] = [...(columns[c] ?? []), n];
  }
  const placed = new Map<string, Placed>();
  columns.forEach((members, c) => {
    const score = (n: string) => {
      const rows = [...(graph.get(n) ?? [])].map((m) => placed.get(m)?.row).filter((r): r is number => r !== undefined);
      return rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : 0;
    };
    [...members]
      .sort((a, b) => score(a) - score(b) || (a < b ? -1 : 1))
      .forEach((n, row) => {
        placed.set(n, { column: c, row });
      });
  });
  return placed;
}

const COLUMN = 200;
const ROW = 44;
const BOX = { w: 160, h: 28 };

/**
 * An SVG of `nodes` (default: the whole graph); `highlight` is drawn emphasised with the edges
 * into it, so one package's path through the build is visible. Every node links to its page.
 */
export function graphSvg(graph: BuildGraph, opts: { nodes?: Set<string>; highlight?: string; root: string; title: string }): Raw {
  const nodes = [...(opts.nodes ?? graph.keys())].sort();
  const pos = layout(graph, nodes);
  const columns = Math.max(0, ...[...pos.values()].map((p) => p.column)) + 1;
  const rows = Math.max(0, ...[...pos.values()].map((p) => p.row)) + 1;
  const width = columns * COLUMN;
  const height = rows * ROW + 8;
  const xy = (n: string) => {
    const p = pos.get(n) as Placed;
    return { x: p.column * COLUMN + 8, y: p.row * ROW + 8 };
  };
  const onPath = opts.highlight ? buildClosure(graph, opts.highlight) : new Set<string>();
  const edges: Raw[] = [];
  for (const to of nodes)
    for (const from of [...(graph.get(to) ?? [])].sort()) {
      if (!pos.has(from)) continue;
      const a = xy(from);
      const b = xy(to);
      const x1 = a.x + BOX.w;
      const y1 = a.y + BOX.h / 2;
      const x2 = b.x;
      const y2 = b.y + BOX.h / 2;
      const mid = (x1 + x2) / 2;
      const hot = onPath.has(to) && onPath.has(from);
      edges.push(h`<path class="edge${hot ? " hot" : ""}" d="M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}" marker-end="url(#arrow)"/>`);
    }
  const boxes = nodes.map((n) => {
    const { x, y } = xy(n);
    const cls = n === opts.highlight ? "node target" : onPath.has(n) ? "node hot" : "node";
    const label = n.length > 20 ? `${n.slice(0, 19)}…` : n;
    return h`<a href="${opts.root}packages/${href(slug(n))}.html" id="n-${slug(n)}"><g class="${cls}"><title>${n}</title><rect x="${x}" y="${y}" width="${BOX.w}" height="${BOX.h}" rx="4"/><text x="${x + 8}" y="${y + 19}">${label}</text></g></a>`;
  });
  const edgeCount = edges.length;
  return h`<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="group" aria-label="${opts.title}: ${nodes.length} packages, ${edgeCount} build edges">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>
${edges}${boxes}</svg>`;
}

export const GRAPH_CSS = `svg.graph{max-width:100%;height:auto;font:13px system-ui,sans-serif}
svg.graph .edge{fill:none;stroke:#8a8a8a;stroke-width:1.2}svg.graph .edge.hot{stroke:#0b57d0;stroke-width:2.4}
svg.graph .node rect{fill:#f4f6fa;stroke:#555}svg.graph .node text{fill:#1a1a1a}
svg.graph .node.hot rect{fill:#dbe7fb;stroke:#0b57d0;stroke-width:2}svg.graph .node.target rect{fill:#0b57d0;stroke:#0b57d0}svg.graph .node.target text{fill:#fff;font-weight:700}
svg.graph a:focus rect,svg.graph :target rect{stroke:#ffbf47;stroke-width:4}
.graph-wrap{overflow-x:auto;border:1px solid var(--line);padding:8px}
`;

/** The whole graph is drawn only while it stays readable; past this, each package page shows its own part. */
export const MAX_GRAPH_NODES = 400;
