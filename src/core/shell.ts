/**
 * Command lines as a person would type them into a POSIX shell (bash, zsh, ksh): each argument bare
 * when nothing in it is special, in single quotes otherwise, and in $'…' when it holds control
 * characters (a newline stays one visible `\n`, so a command is always one line). Pure: the CLI and
 * the dashboard both show commands with it.
 */
const BARE = /^[A-Za-z0-9_@%+=:,./-]+$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

const ESCAPES: Record<string, string> = { "\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\", "'": "\\'" };

function ansiC(arg: string): string {
  let out = "";
  for (const ch of arg) {
    const code = ch.codePointAt(0)!;
    out += ESCAPES[ch] ?? (code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, "0")}` : ch);
  }
  return `$'${out}'`;
}

/** One argument, quoted only when it has to be. */
export function quoteArg(arg: string): string {
  if (BARE.test(arg)) return arg;
  if (CONTROL.test(arg)) return ansiC(arg);
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** A whole argv as one line: `sh -c 'echo hi; exit 3'`. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map(quoteArg).join(" ");
}
