/**
 * Certificates for the results-host gateway, made with the openssl CLI: a Nimbus CA that guest
 * images trust, and a server certificate for GitHub's results (and legacy cache) host names. The
 * CA is name-constrained (critical) to those host names: a guest trusting it trusts it for them
 * only, so whoever holds its key cannot vouch for any other site to a guest.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../../src/core/errors.ts";

export const RESULTS_HOSTS = ["results-receiver.actions.githubusercontent.com", "artifactcache.actions.githubusercontent.com"];

export interface GatewayCerts {
  caCertPath: string;
  certPath: string;
  keyPath: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const p = Bun.spawn(["openssl", ...args], { cwd, stdout: "ignore", stderr: "pipe" });
  const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new AppError("internal", `openssl ${args[0]} failed: ${err.trim().split("\n").pop()}`);
}

/** Create (once) the CA and a certificate for `hosts` in `dir`; existing files are kept. */
export async function ensureGatewayCerts(dir: string, hosts: string[] = RESULTS_HOSTS): Promise<GatewayCerts> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const out = { caCertPath: join(dir, "ca.pem"), certPath: join(dir, "results.pem"), keyPath: join(dir, "results-key.pem") };
  if (!existsSync(out.caCertPath)) {
    const permitted = hosts.map((h) => `permitted;DNS:${h}`).join(",");
    await openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "3650", "-subj", "/CN=Nimbus results gateway CA",
      "-addext", `nameConstraints=critical,${permitted}`], dir);
  }
  if (!existsSync(out.certPath)) {
    writeFileSync(join(dir, "results.ext"), `basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=${hosts.map((h) => `DNS:${h}`).join(",")}\n`);
    await openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "results-key.pem", "-out", "results.csr", "-subj", `/CN=${hosts[0]}`], dir);
    await openssl(["x509", "-req", "-in", "results.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-out", "results.pem", "-days", "825", "-extfile", "results.ext"], dir);
  }
  return out;
}
