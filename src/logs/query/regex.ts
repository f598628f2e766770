/**
 * The regular expressions a log query may use: a subset both RE2 (ClickHouse's `match`) and
 * JavaScript read alike, checked before use. Refused: lookaround, backreferences, named groups,
 * possessive or lazy-looking constructs RE2 lacks, and a repeated group that itself repeats
 * (`(a+)+`, the shape that makes a backtracking engine take exponential time; RE2 never does, but
 * the SQLite backend and live follows match with JavaScript). `(?i)` at the start is the only flag.
 */

export const MAX_REGEX_LENGTH = 256;

/** Why a pattern is refused, or null when it is in the subset. `at` is the offset in the pattern. */
export function regexProblem(source: string): { at: number; message: string } | null {
  if (!source.length) return { at: 0, message: "an empty pattern" };
  if (source.length > MAX_REGEX_LENGTH) return { at: MAX_REGEX_LENGTH, message: `a pattern longer than ${MAX_REGEX_LENGTH} characters` };
  const body = source.startsWith("(?i)") ? 4 : 0;
  const refused: [RegExp, string][] = [
    [/\(\?[=!]/, "lookahead"],
    [/\(\?<[=!]/, "lookbehind"],
    [/\(\?<?[A-Za-z]/, "named groups or inline flags (only a leading (?i) is allowed)"],
    [/\\[1-9]|\\k</, "backreferences"],
    [/[+*?}]\+|\{\d*,?\d*\}\?|[*+]\?\+/, "possessive quantifiers"],
    [/\\[pP]\{/, "Unicode classes"],
  ];
  for (const [re, what] of refused) {
    const m = re.exec(source.slice(body));
    if (m) return { at: body + m.index, message: `${what} (not in the RE2 subset log search uses)` };
  }
  const nested = nestedRepetition(source);
  if (nested !== null) return { at: nested, message: "a repeated group that repeats inside (like (a+)+)" };
  try {
    new RegExp(source.slice(body), "u");
  } catch (e) {
    return { at: 0, message: `not a valid pattern: ${(e as Error).message.replace(/^Invalid regular expression: /, "")}` };
  }
  return null;
}

/** The offset of a quantified group containing a quantifier, or null. Character classes and escapes are skipped. */
function nestedRepetition(s: string): number | null {
  const stack: { at: number; quantified: boolean }[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "\\") {
      i++;
      continue;
    }
    if (c === "[") {
      for (i++; i < s.length && s[i] !== "]"; i++) if (s[i] === "\\") i++;
      continue;
    }
    const quantifier = c === "*" || c === "+" || (c === "{" && /^\{\d+(,\d*)?\}/.test(s.slice(i)));
    if (c === "(") stack.push({ at: i, quantified: false });
    else if (c === ")") {
      const g = stack.pop();
      const next = s[i + 1];
      const repeated = next === "*" || next === "+" || (next === "{" && /^\{\d+(,\d*)?\}/.test(s.slice(i + 1)));
      if (g && g.quantified && repeated) return g.at;
      if (g && g.quantified && stack.length) stack[stack.length - 1]!.quantified = true;
      if (repeated && stack.length) stack[stack.length - 1]!.quantified = true;
    } else if (quantifier && stack.length) stack[stack.length - 1]!.quantified = true;
  }
  return null;
}

/** The pattern and flags of a checked source (`(?i)` becomes the `i` flag). */
export function splitFlags(source: string): { source: string; flags: string } {
  return source.startsWith("(?i)") ? { source: source.slice(4), flags: "i" } : { source, flags: "" };
}

const compiled = new Map<string, RegExp>();

/** A JavaScript RegExp for a checked pattern (kept: the same few patterns are matched against many lines). */
export function jsRegex(source: string, flags: string): RegExp {
  const key = `${flags}/${source}`;
  let re = compiled.get(key);
  if (!re) {
    if (compiled.size > 256) compiled.clear();
    re = new RegExp(source, `u${flags}`);
    compiled.set(key, re);
  }
  return re;
}
