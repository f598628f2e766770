/** The conformance suite against the sandbox driver (bubblewrap, as the unprivileged sandbox uid). */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chmodSync } from "node:fs";
import { SandboxDriver } from "../../agent/drivers/sandbox/driver.ts";
import { runDriverConformance } from "./conformance.ts";

runDriverConformance({
  name: "sandbox",
  driver: () => {
    const root = mkdtempSync(join(tmpdir(), "nimbus-conf-sbx-"));
    chmodSync(root, 0o711); // the sandbox uid must traverse it
    return new SandboxDriver({ root: join(root, "agent"), uid: 65534, owner: `conf-${process.pid}` });
  },
});
