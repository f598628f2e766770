/** The stack's NATS operator and account (decentralized auth), made once and kept in `<data-dir>/nats-trust.json` (0600). */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { newTrust, type NatsTrust } from "../nats/decentralized.ts";
import { writePrivate } from "./state.ts";

export function keptTrust(dataDir: string): NatsTrust {
  const f = join(dataDir, "nats-trust.json");
  if (existsSync(f)) return JSON.parse(readFileSync(f, "utf8")) as NatsTrust;
  const t = newTrust();
  writePrivate(f, JSON.stringify(t));
  return t;
}
