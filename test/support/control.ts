/** A control plane in this process for tests, with the GitHub App settings filled in (its API unreachable, the poll idle). */
import { generateKeyPairSync } from "node:crypto";
import { loadConfig } from "../../src/core/config/load.ts";
import { controlSettings } from "../../src/control/config.ts";
import { startControlPlane, type RunningControlPlane } from "../../src/control/server.ts";
import { freePort } from "./net.ts";

export async function testControlPlane(o: { natsUrl: string; authSecret: string; webhookSecret: string; env?: Record<string, string> }): Promise<RunningControlPlane> {
  const key = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  return startControlPlane(
    loadConfig(controlSettings, {
      NIMBUS_NATS_URL: o.natsUrl,
      NIMBUS_AUTH_SECRET: o.authSecret,
      NIMBUS_SECRETS_KEY: Buffer.alloc(32, 3).toString("base64url"),
      NIMBUS_CONTROL_PORT: String(await freePort()),
      NIMBUS_GITHUB_WEBHOOK_SECRET: o.webhookSecret,
      NIMBUS_GITHUB_APP_ID: "1",
      NIMBUS_GITHUB_APP_PRIVATE_KEY: key,
      NIMBUS_GITHUB_API_URL: "http://127.0.0.1:9",
      NIMBUS_GITHUB_POLL_INTERVAL_MS: "3600000",
      ...o.env,
    }),
  );
}
