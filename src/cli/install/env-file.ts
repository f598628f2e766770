/**
 * A unit's settings file (/etc/nimbus/NAME.env, 0600): every setting its process reads, one block
 * each — the doc line, then `KEY=value` where this shell's environment sets it, else the default
 * commented out. A required setting with no value is marked REQUIRED and left commented: the service
 * refuses to start, naming it, until it is set (`nimbus config check --env` names it too).
 */
import type { SettingsSpec } from "../../core/config/settings.ts";

/**
 * EnvironmentFile quoting: bare when plainly safe; else single quotes (nothing inside is special);
 * a value holding a single quote goes in double quotes with backslash, ", $ and ` escaped. Newlines stay as
 * they are inside either (a PEM key spans lines), as systemd's and the shell's parsers both read them.
 */
export function envValue(v: string): string {
  if (/^[A-Za-z0-9_./:,@+=-]*$/.test(v)) return v;
  if (!v.includes("'")) return `'${v}'`;
  return `"${v.replace(/[\\"$`]/g, (c) => `\\${c}`)}"`;
}

export function envFileText(unit: string, spec: SettingsSpec, env: Record<string, string | undefined>, fixed: Record<string, string>): string {
  const lines = [
    `# Settings of nimbus-${unit}.service: each line is one environment variable (see the README's configuration table).`,
    "# Lines starting with # are defaults. Restart the unit after a change.",
    "",
  ];
  const seen = new Set<string>();
  for (const s of Object.values(spec)) {
    if (seen.has(s.env) || s.env in fixed) continue;
    seen.add(s.env);
    lines.push(`# ${s.doc.replace(/\s+/g, " ")}`);
    const set = env[s.env];
    if (set !== undefined && set !== "") lines.push(`${s.env}=${envValue(set)}`);
    else if (s.default === undefined) lines.push(`# REQUIRED: set it and remove the #`, `#${s.env}=`);
    else lines.push(`#${s.env}=${envValue(s.defaultDoc ?? s.default)}`);
    lines.push("");
  }
  return lines.join("\n");
}
