/**
 * The log search language, parsed once into a tree (ast.ts):
 *
 *   query   := or
 *   or      := and ( OR and )*
 *   and     := unary ( [AND] unary )*          (terms side by side: AND)
 *   unary   := -unary | NOT unary | primary
 *   primary := ( query ) | NAME:value | "phrase" | /regex/ | word
 *   value   := word | "phrase" | /regex/        (a word with * is a glob: repo:acme/*)
 *
 * Bad input is a `validation_failed` error naming the position (1-based character) and what was
 * expected there. Bounded: the text, the number of terms and the nesting depth.
 */
import { AppError } from "../../core/errors.ts";
import { FIELDS, type Field, type Node, type Value } from "./ast.ts";
import { regexProblem, splitFlags } from "./regex.ts";

export const MAX_QUERY_LENGTH = 1024;
export const MAX_TERMS = 32;
export const MAX_DEPTH = 16;

type Token =
  | { t: "word"; v: string; at: number }
  | { t: "phrase"; v: string; at: number }
  | { t: "regex"; v: string; at: number }
  | { t: "field"; v: Field; at: number }
  | { t: "(" | ")" | "-" | "AND" | "OR" | "NOT" | "end"; at: number };

function fail(at: number, message: string): never {
  throw new AppError("validation_failed", `query: at ${at + 1}: ${message}`, { field: "q", position: at + 1 });
}

const describe = (k: Token) => (k.t === "end" ? "the end of the query" : k.t === "word" || k.t === "phrase" || k.t === "regex" ? `${k.t} ${JSON.stringify(k.v)}` : k.t === "field" ? `field ${k.v}:` : `"${k.t}"`);

function quoted(s: string, at: number, close: string): { v: string; end: number } {
  let v = "";
  for (let i = at + 1; i < s.length; i++) {
    const c = s[i]!;
    if (c === "\\" && i + 1 < s.length && (s[i + 1] === close || s[i + 1] === "\\")) {
      v += close === "/" && s[i + 1] === "\\" ? "\\\\" : s[i + 1];
      i++;
    } else if (c === close) return { v, end: i + 1 };
    else v += c;
  }
  return fail(at, close === '"' ? "a phrase that is not closed: expected a closing \"" : "a pattern that is not closed: expected a closing /");
}

function tokenize(s: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "(" || c === ")") {
      out.push({ t: c, at: i++ });
      continue;
    }
    if (c === "-" && i + 1 < s.length && !/\s/.test(s[i + 1]!)) {
      out.push({ t: "-", at: i++ });
      continue;
    }
    if (c === '"' || c === "/") {
      const { v, end } = quoted(s, i, c);
      out.push({ t: c === '"' ? "phrase" : "regex", v, at: i });
      i = end;
      continue;
    }
    const start = i;
    while (i < s.length && !/[\s()"]/.test(s[i]!) && !(s[i] === ":" && i > start)) i++;
    const word = s.slice(start, i);
    if (s[i] === ":" && i > start) {
      const name = word.toLowerCase();
      if (!(FIELDS as readonly string[]).includes(name)) {
        // `https://…`, `C::D`: text with a colon, not a field.
        if (s[i + 1] === "/" || s[i + 1] === ":") {
          while (i < s.length && !/[\s()"]/.test(s[i]!)) i++;
          out.push({ t: "word", v: s.slice(start, i), at: start });
          continue;
        }
        fail(start, `unknown field "${word}": expected one of ${FIELDS.join(", ")} (put text with a colon in quotes)`);
      }
      out.push({ t: "field", v: name as Field, at: start });
      i++;
      continue;
    }
    if (word === "AND" || word === "OR" || word === "NOT") out.push({ t: word, at: start });
    else out.push({ t: "word", v: word, at: start });
  }
  out.push({ t: "end", at: s.length });
  return out;
}

function valueOf(k: Token, field: Field): Value {
  if (k.t === "regex") return { kind: "regex", ...checkedRegex(k.v, k.at) };
  if (k.t !== "word" && k.t !== "phrase") fail(k.at, `expected a value for ${field}:, found ${describe(k)}`);
  if (!k.v.length) fail(k.at, `an empty value for ${field}:`);
  return k.t === "word" && k.v.includes("*") ? { kind: "glob", value: k.v } : { kind: "exact", value: k.v };
}

function checkedRegex(source: string, at: number): { source: string; flags: string } {
  const p = regexProblem(source);
  if (p) fail(at + 1 + p.at, p.message);
  return splitFlags(source);
}

export function parseQuery(text: string): Node {
  if (text.length > MAX_QUERY_LENGTH) fail(MAX_QUERY_LENGTH, `a query longer than ${MAX_QUERY_LENGTH} characters`);
  const tokens = tokenize(text);
  let pos = 0;
  let terms = 0;
  const peek = () => tokens[pos]!;
  const take = () => tokens[pos++]!;
  const term = (at: number) => {
    if (++terms > MAX_TERMS) fail(at, `more than ${MAX_TERMS} terms`);
  };

  const or = (depth: number): Node => {
    const parts = [and(depth)];
    while (peek().t === "OR") {
      take();
      parts.push(and(depth));
    }
    return parts.length === 1 ? parts[0]! : { kind: "or", children: parts };
  };
  const and = (depth: number): Node => {
    const parts = [unary(depth)];
    for (;;) {
      const k = peek();
      if (k.t === "AND") {
        take();
        parts.push(unary(depth));
      } else if (k.t === "end" || k.t === ")" || k.t === "OR") break;
      else parts.push(unary(depth));
    }
    return parts.length === 1 ? parts[0]! : { kind: "and", children: parts };
  };
  const unary = (depth: number): Node => {
    const k = peek();
    if (k.t === "-" || k.t === "NOT") {
      take();
      if (depth >= MAX_DEPTH) fail(k.at, `nested deeper than ${MAX_DEPTH}`);
      return { kind: "not", child: unary(depth + 1) };
    }
    return primary(depth);
  };
  const primary = (depth: number): Node => {
    const k = take();
    switch (k.t) {
      case "(": {
        if (depth >= MAX_DEPTH) fail(k.at, `nested deeper than ${MAX_DEPTH}`);
        if (peek().t === ")") fail(peek().at, "empty parentheses: expected a term");
        const inner = or(depth + 1);
        const close = take();
        if (close.t !== ")") fail(close.at, `expected ")" to close the "(" at ${k.at + 1}, found ${describe(close)}`);
        return inner;
      }
      case "field": {
        term(k.at);
        return { kind: "field", field: k.v, value: valueOf(take(), k.v) };
      }
      case "word":
        term(k.at);
        return { kind: "text", value: k.v };
      case "phrase":
        term(k.at);
        if (!k.v.trim()) fail(k.at, "an empty phrase");
        return { kind: "phrase", value: k.v };
      case "regex":
        term(k.at);
        return { kind: "regex", ...checkedRegex(k.v, k.at) };
      default:
        return fail(k.at, `expected a word, "phrase", /regex/, field:value or "(", found ${describe(k)}`);
    }
  };

  if (peek().t === "end") fail(0, "an empty query: expected a word, \"phrase\", /regex/ or field:value");
  const tree = or(0);
  const rest = peek();
  if (rest.t !== "end") fail(rest.at, rest.t === ")" ? 'a ")" with no "(" before it' : `expected the end of the query, found ${describe(rest)}`);
  return tree;
}

/** The fields a tree names (the caller refuses `org:` to all but operators). */
export function fieldsOf(n: Node): Set<Field> {
  const out = new Set<Field>();
  const walk = (x: Node): void => {
    if (x.kind === "field") out.add(x.field);
    else if (x.kind === "not") walk(x.child);
    else if (x.kind === "and" || x.kind === "or") x.children.forEach(walk);
  };
  walk(n);
  return out;
}
