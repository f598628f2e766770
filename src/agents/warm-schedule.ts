/**
 * Warm-pool settings as text (the agent's config passes them through):
 *
 *   classes   "2c4g=1..3,4c16g=0..1"             size class = minimum..maximum VMs kept warm
 *             "2c4g+docker=1..2"                 the same for jobs with the `docker` label: VMs whose
 *                                                dockerd is started (and ready) before they wait
 *   schedule  "2c4g mon-fri 08:00-18:00 min=3; 4c16g * 09:00-12:00 min=1; 2c4g+docker * 09:00-17:00 min=2"
 *
 * A class is a size class, optionally `+docker`; `2c4g` and `2c4g+docker` are two classes (two VM
 * shapes: a job without docker never takes a VM that runs a daemon, nor pays for one).
 * A schedule entry raises a class's minimum while the agent's local time (TZ) is inside its window
 * (days: `*`, a day `mon`, a range `mon-fri` or a list `sat,sun`; the window may wrap midnight);
 * the maximum always caps it. Errors are `validation_failed` naming the field and the entry.
 */
import { AppError } from "../core/errors.ts";
import { SIZE_CLASSES } from "../jobs/labels.ts";

export interface WarmClassConfig {
  /** A size class name (src/jobs/labels.ts), e.g. 2c4g. */
  sizeClass: string;
  /** VMs for `docker` jobs (class `2c4g+docker`): dockerd runs before the VM waits. */
  docker?: true;
  min: number;
  max: number;
}

/** The suffix of a warm class whose VMs serve `docker` jobs. */
export const DOCKER_CLASS_SUFFIX = "+docker";

/** A class's name as the settings spell it: `2c4g` or `2c4g+docker`. */
export function warmClassName(c: { sizeClass: string; docker?: boolean }): string {
  return c.docker ? `${c.sizeClass}${DOCKER_CLASS_SUFFIX}` : c.sizeClass;
}

export interface WarmScheduleEntry {
  sizeClass: string;
  /** The entry is for the class's `+docker` VMs. */
  docker?: true;
  /** 0 = Sunday ... 6 = Saturday. */
  days: number[];
  /** Minutes after local midnight; `to` may be less than `from` (the window wraps midnight). */
  from: number;
  to: number;
  min: number;
}

const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

function bad(field: string, entry: string, why: string): AppError {
  return new AppError("validation_failed", `${field}: "${entry}": ${why}`, { field, entry });
}

/** `2c4g` or `2c4g+docker`: the size class, and docker when asked for. */
function warmClass(field: string, entry: string, name: string): { sizeClass: string; docker?: true } {
  const docker = name.endsWith(DOCKER_CLASS_SUFFIX);
  const size = docker ? name.slice(0, -DOCKER_CLASS_SUFFIX.length) : name;
  if (!SIZE_CLASSES.some((c) => c.name === size)) throw bad(field, entry, `unknown size class ${size} (one of ${SIZE_CLASSES.map((c) => c.name).join(", ")}, each optionally +docker)`);
  return docker ? { sizeClass: size, docker: true } : { sizeClass: size };
}

/** Parses a class name as the settings spell it (`2c4g`, `2c4g+docker`). */
export function parseWarmClassName(name: string): { sizeClass: string; docker?: true } {
  return warmClass("warm pool class", name, name);
}

export function parseWarmClasses(text: string, field = "warm pool classes"): WarmClassConfig[] {
  const out: WarmClassConfig[] = [];
  for (const entry of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z0-9]+(?:\+docker)?)=(\d+)\.\.(\d+)$/.exec(entry);
    if (!m) throw bad(field, entry, "expected CLASS=MIN..MAX, e.g. 2c4g=1..3 or 2c4g+docker=0..2");
    const [min, max] = [Number(m[2]), Number(m[3])];
    if (min > max) throw bad(field, entry, "minimum is above maximum");
    if (max > 64) throw bad(field, entry, "at most 64 warm VMs per class");
    const cls = warmClass(field, entry, m[1]!);
    if (out.some((c) => warmClassName(c) === m[1])) throw bad(field, entry, `${m[1]} is given twice`);
    out.push({ ...cls, min, max });
  }
  return out;
}

function parseDays(field: string, entry: string, text: string): number[] {
  if (text === "*") return [0, 1, 2, 3, 4, 5, 6];
  const days = new Set<number>();
  for (const part of text.split(",")) {
    const [a, b] = part.split("-").map((d) => DAYS.indexOf(d));
    if (a === undefined || a < 0 || b === -1) throw bad(field, entry, `days are *, mon, mon-fri or sat,sun (got ${part})`);
    for (let d = a; ; d = (d + 1) % 7) {
      days.add(d);
      if (d === (b ?? a)) break;
    }
  }
  return [...days].sort();
}

function parseTime(field: string, entry: string, t: string): number {
  const m = /^([01]\d|2[0-4]):([0-5]\d)$/.exec(t);
  if (!m || (m[1] === "24" && m[2] !== "00")) throw bad(field, entry, `times are HH:MM (got ${t})`);
  return Number(m[1]) * 60 + Number(m[2]);
}

export function parseWarmSchedule(text: string, field = "warm pool schedule"): WarmScheduleEntry[] {
  const out: WarmScheduleEntry[] = [];
  for (const entry of text.split(";").map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z0-9]+(?:\+docker)?)\s+(\S+)\s+(\d\d:\d\d)-(\d\d:\d\d)\s+min=(\d+)$/.exec(entry);
    if (!m) throw bad(field, entry, "expected CLASS DAYS HH:MM-HH:MM min=N, e.g. 2c4g mon-fri 08:00-18:00 min=3");
    out.push({ ...warmClass(field, entry, m[1]!), days: parseDays(field, entry, m[2]!), from: parseTime(field, entry, m[3]!), to: parseTime(field, entry, m[4]!), min: Number(m[5]) });
  }
  return out;
}

function inWindow(e: WarmScheduleEntry, at: Date): boolean {
  const minute = at.getHours() * 60 + at.getMinutes();
  const day = at.getDay();
  if (e.from <= e.to) return e.days.includes(day) && minute >= e.from && minute < e.to;
  // Wraps midnight: the part after midnight belongs to the day the window started.
  if (minute >= e.from) return e.days.includes(day);
  return minute < e.to && e.days.includes((day + 6) % 7);
}

/** The minimum in force for a class at `at`: the configured one, raised by any active schedule entry. */
export function scheduledMin(cls: WarmClassConfig, schedule: WarmScheduleEntry[], at: Date): number {
  let min = cls.min;
  for (const e of schedule) if (warmClassName(e) === warmClassName(cls) && inWindow(e, at)) min = Math.max(min, e.min);
  return Math.min(min, cls.max);
}
