/**
 * Checks that dependencies run one way (docs/architecture.md, "Code layout and dependencies").
 *
 *   bun scripts/check-layers.ts [root]     exit 0 when clean; exit 1 and one line per offence
 *
 * It reads every import of src/, agent/ and web/ under root (test/ and scripts/ are not checked),
 * resolves relative paths, maps each file to its layer and its unit (the folder it belongs to), and reports:
 * - upward:    an import from a lower layer into a higher one;
 * - peer:      an app (or forge) importing another app's (or forge's) files — what two share moves down —
 *              except a service's published settings declaration (PUBLISHED), itself built only on lower layers;
 * - browser:   web/ importing, at run time, a module that reaches a package or a runtime built-in
 *              (type-only imports, and pure modules of the lower layers, are fine);
 * - outside:   a source file importing code from test/ or scripts/ (but for OUTSIDE_ALLOWED), or a file in no layer;
 * - file cycle and folder cycle (sibling folders, each counting every file under it).
 * Type-only imports count for every rule except "browser": a type still couples the two files.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import ts from "typescript";

/** Lowest first. A unit is a folder (or a single file) under the root; the longest prefix wins. */
export const LAYERS: { name: string; peers: boolean; units: string[] }[] = [
  { name: "core", peers: false, units: ["src/core", "src/jobs", "src/nats", "src/auth", "src/agents", "src/http", "src/protocol", "src/vm", "src/blobs", "src/version.ts"] },
  { name: "integrations", peers: true, units: ["src/github", "src/gitea"] },
  { name: "apps", peers: true, units: ["src/control", "src/cache", "src/registry", "src/logs", "src/cli", "src/up", "agent", "web"] },
  // The binaries' entry points (`npm run build`): each starts an app, so they sit above them all.
  { name: "binaries", peers: false, units: ["src/bin"] },
];
/** Units that are one app: `nimbus up` runs the single-host supervisor (src/up) inside the CLI's process. */
const SAME_APP: Record<string, string> = { "src/up": "src/cli" };
/**
 * Files another app may import: each service's settings declaration, which `nimbus config` shows and
 * checks for every service. Such a file must itself import only lower layers, so it carries nothing
 * of its app along. (The agent's settings live in src/agents/settings.ts: nothing in src/ imports agent/.)
 */
const PUBLISHED = new Set(["src/control/config.ts", "src/logs/config.ts", "src/cache/config.ts", "src/registry/config.ts"]);
/** Imports of code outside src/, agent/ and web/ that are known and argued for. */
const OUTSIDE_ALLOWED: Record<string, string> = {
  "src/cli/commands/up.ts -> test/github-sim/demo.ts": "`nimbus up --demo` runs the GitHub simulator, which lives with the tests",
  "src/cli/commands/up.ts -> test/gitea-sim/demo.ts": "`nimbus up --demo gitea` runs the Gitea simulator, which lives with the tests",
};
const ROOTS = ["src", "agent", "web"];
const BROWSER = "web";

export interface Edge { from: string; to: string; typeOnly: boolean }
export interface Graph { files: string[]; edges: Edge[]; bare: Map<string, string[]> }

function sourceFiles(root: string, dir: string): string[] {
  const abs = join(root, dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs).sort().flatMap((name) => {
    const rel = join(dir, name);
    if (name === "node_modules" || name.startsWith(".")) return [];
    if (statSync(join(root, rel)).isDirectory()) return sourceFiles(root, rel);
    return /\.(ts|tsx)$/.test(name) && !name.endsWith(".d.ts") ? [rel] : [];
  });
}

/** Every module specifier of one file, with whether it is type-only (`import type`, `export type`, `import("x").T`). */
export function importsOf(path: string, text: string): { spec: string; typeOnly: boolean }[] {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, false, path.endsWith("x") ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const out: { spec: string; typeOnly: boolean }[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      out.push({ spec: node.moduleSpecifier.text, typeOnly: !!node.importClause?.isTypeOnly });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      out.push({ spec: node.moduleSpecifier.text, typeOnly: node.isTypeOnly });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      if (arg && ts.isStringLiteralLike(arg)) out.push({ spec: arg.text, typeOnly: false });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      out.push({ spec: node.argument.literal.text, typeOnly: true });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function resolve(root: string, from: string, spec: string): string | null {
  const base = normalize(join(dirname(from), spec));
  for (const cand of [base, `${base}.ts`, `${base}.tsx`, join(base, "index.ts")]) {
    if (existsSync(join(root, cand)) && statSync(join(root, cand)).isFile()) return cand;
  }
  return null;
}

export function readGraph(root: string): Graph {
  const files = ROOTS.flatMap((r) => sourceFiles(root, r));
  const edges: Edge[] = [];
  const bare = new Map<string, string[]>();
  for (const file of files) {
    for (const { spec, typeOnly } of importsOf(file, readFileSync(join(root, file), "utf8"))) {
      if (!spec.startsWith(".")) {
        if (!typeOnly) bare.set(file, [...(bare.get(file) ?? []), spec]);
        continue;
      }
      const to = resolve(root, file, spec);
      if (to && /\.(ts|tsx|js|mjs)$/.test(to)) edges.push({ from: file, to, typeOnly });
    }
  }
  return { files, edges, bare };
}

export function unitOf(file: string): { layer: number; unit: string } | null {
  let best: { layer: number; unit: string } | null = null;
  LAYERS.forEach((l, layer) => {
    for (const u of l.units) {
      if ((file === u || file.startsWith(`${u}/`)) && (!best || u.length > best.unit.length)) best = { layer, unit: u };
    }
  });
  return best;
}

const top = (file: string) => file.split("/")[0]!;
const appOf = (unit: string) => SAME_APP[unit] ?? unit;

function ruleOffences(g: Graph): string[] {
  const out: string[] = [];
  const fileSet = new Set(g.files);
  for (const f of g.files) if (!unitOf(f)) out.push(`outside: ${f} is in no layer (add its folder to LAYERS in scripts/check-layers.ts)`);
  for (const e of g.edges) {
    if (!fileSet.has(e.to)) {
      if (!OUTSIDE_ALLOWED[`${e.from} -> ${e.to}`]) out.push(`outside: ${e.from} imports ${e.to}, which is not source of src/, agent/ or web/`);
      continue;
    }
    const a = unitOf(e.from), b = unitOf(e.to);
    if (!a || !b) continue;
    if (b.layer > a.layer) {
      out.push(`upward: ${e.from} (${LAYERS[a.layer]!.name}) imports ${e.to} (${LAYERS[b.layer]!.name})`);
    } else if (a.layer === b.layer && LAYERS[a.layer]!.peers && appOf(a.unit) !== appOf(b.unit)) {
      if (!PUBLISHED.has(e.to)) out.push(`peer: ${e.from} (${a.unit}) imports ${e.to} (${b.unit}): another ${a.layer === 2 ? "app" : "forge"}'s internals`);
    } else if (PUBLISHED.has(e.from) && b.layer >= a.layer) {
      out.push(`published: ${e.from} (read by other apps) imports ${e.to}: a published file may import only lower layers`);
    } else if (top(e.from) === BROWSER && top(e.to) !== BROWSER && !e.typeOnly) {
      const impure = impurity(g, e.to);
      if (impure) out.push(`browser: ${e.from} imports ${e.to} at run time, which reaches "${impure.spec}" (in ${impure.file})`);
    }
  }
  return out;
}

/** The first package or built-in a module reaches through run-time imports, or null if it is pure. */
function impurity(g: Graph, start: string): { file: string; spec: string } | null {
  const seen = new Set<string>([start]);
  const queue = [start];
  while (queue.length) {
    const file = queue.shift()!;
    const spec = g.bare.get(file)?.[0];
    if (spec) return { file, spec };
    for (const e of g.edges) if (e.from === file && !e.typeOnly && !seen.has(e.to)) { seen.add(e.to); queue.push(e.to); }
  }
  return null;
}

/** Strongly connected components with more than one node (or a self-loop), by Tarjan. */
export function cycles(nodes: string[], next: (n: string) => string[]): string[][] {
  let index = 0;
  const idx = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], on = new Set<string>();
  const out: string[][] = [];
  const strong = (v: string) => {
    idx.set(v, index); low.set(v, index++); stack.push(v); on.add(v);
    for (const w of next(v)) {
      if (!idx.has(w)) { strong(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) !== idx.get(v)) return;
    const scc: string[] = [];
    for (let w = stack.pop()!; ; w = stack.pop()!) { on.delete(w); scc.push(w); if (w === v) break; }
    if (scc.length > 1 || next(v).includes(v)) out.push(scc.sort());
  };
  for (const n of nodes) if (!idx.has(n)) strong(n);
  return out;
}

/** A shortest path start → … → start inside one component, for the message. */
function loop(scc: string[], next: (n: string) => string[]): string[] {
  const members = new Set(scc), start = scc[0]!;
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const n = queue.shift()!;
    for (const w of next(n)) {
      if (!members.has(w)) continue;
      if (w === start) { const path = [n]; for (let p = n; p !== start; ) { p = prev.get(p)!; path.unshift(p); } return [...path, start]; }
      if (!prev.has(w)) { prev.set(w, n); queue.push(w); }
    }
  }
  return [...scc, start];
}

function fileCycles(g: Graph): string[] {
  const adj = new Map<string, string[]>();
  for (const e of g.edges) adj.set(e.from, [...new Set([...(adj.get(e.from) ?? []), e.to])]);
  const next = (n: string) => adj.get(n) ?? [];
  return cycles(g.files, next).map((scc) => `file cycle: ${loop(scc, next).join(" → ")}`);
}

/** For every folder, a cycle among its child folders (each standing for every file under it). */
function folderCycles(g: Graph): string[] {
  const out: string[] = [];
  const parents = new Set(g.files.flatMap((f) => f.split("/").slice(0, -1).map((_, i, p) => p.slice(0, i).join("/"))));
  for (const parent of [...parents].sort()) {
    const child = (f: string) => {
      const rest = parent ? (f.startsWith(`${parent}/`) ? f.slice(parent.length + 1) : null) : f;
      const parts = rest?.split("/");
      return parts && parts.length > 1 ? (parent ? `${parent}/${parts[0]}` : parts[0]!) : null;
    };
    const witness = new Map<string, Edge>();
    for (const e of g.edges) {
      const a = child(e.from), b = child(e.to);
      if (a && b && a !== b && !witness.has(`${a}\0${b}`)) witness.set(`${a}\0${b}`, e);
    }
    const adj = new Map<string, string[]>();
    for (const key of witness.keys()) { const [a, b] = key.split("\0") as [string, string]; adj.set(a, [...(adj.get(a) ?? []), b]); }
    const next = (n: string) => adj.get(n) ?? [];
    for (const scc of cycles([...adj.keys()].sort(), next)) {
      const path = loop(scc, next);
      const why = path.slice(0, -1).map((a, i) => { const e = witness.get(`${a}\0${path[i + 1]}`)!; return `${e.from} → ${e.to}`; });
      const more = scc.filter((n) => !path.includes(n));
      out.push(`folder cycle: ${path.join(" → ")} (${why.join("; ")})${more.length ? `; the cycle also takes in ${more.join(", ")}` : ""}`);
    }
  }
  return out;
}

export function checkLayers(root: string): string[] {
  const g = readGraph(root);
  return [...ruleOffences(g), ...fileCycles(g), ...folderCycles(g)];
}

if (import.meta.main) {
  const root = process.argv[2] ?? join(import.meta.dir, "..");
  const offences = checkLayers(root);
  for (const line of offences) console.log(line);
  if (offences.length) {
    console.error(`check-layers: ${offences.length} offence(s) in ${relative(process.cwd(), root) || "."}`);
    process.exit(1);
  }
  console.log("check-layers: dependencies run one way");
}
