/**
 * The guest init's MMDS client (agent/guest/mmds.sh), run by busybox as in the guest, against a
 * stand-in for Firecracker's MMDS V2 on loopback (Firecracker itself needs KVM): session token by
 * PUT, then the config by GET with the token; JSON-quoted and plain answers both decode.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { encodeGuestConfig } from "../../agent/guest/host/config.ts";

const GUEST = resolve(import.meta.dir, "../../agent/guest");
const dir = mkdtempSync(join(tmpdir(), "nimbus-mmds-"));
const bin = join(dir, "bin");
Bun.spawnSync(["mkdir", "-p", bin]);
for (const a of ["sh", "nc", "sed", "tr", "base64", "sleep", "cat", "dd", "touch"]) symlinkSync("/bin/busybox", join(bin, a));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = encodeGuestConfig({ hostname: "nimbus-mmds-1", command: ["sh", "-c", "echo hi"], env: { A: "b c" }, uid: 1000 });

function mmds(json: boolean) {
  const seen: string[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const url = new URL(req.url);
      seen.push(`${req.method} ${url.pathname}`);
      if (req.method === "PUT" && url.pathname === "/latest/api/token") {
        if (!req.headers.get("x-metadata-token-ttl-seconds")) return new Response("missing ttl", { status: 400 });
        return new Response("tok-123");
      }
      if (req.method === "GET" && url.pathname === "/nimbus/config") {
        if (req.headers.get("x-metadata-token") !== "tok-123") return new Response("Unauthorized", { status: 401 });
        const b64 = Buffer.from(config).toString("base64");
        return json ? Response.json(b64) : new Response(b64);
      }
      return new Response("not found", { status: 404 });
    },
  });
  return { server, seen };
}

/** Async: the stand-in MMDS answers from this process's event loop. */
async function loadFrom(port: number): Promise<{ code: number; out: string; file: string }> {
  const file = join(dir, `config-${port}`);
  Bun.spawnSync(["touch", `${file}.ctl`]);
  // fd 3 is the control channel: the `mmds` mark goes there, the host's answer comes from there.
  const script = `. ${GUEST}/lib.sh; . ${GUEST}/config.sh; . ${GUEST}/mmds.sh; CONFIG=${file}
exec 3<>${file}.ctl
load_mmds_config && echo "ok $CFG_NAME uid=$CFG_UID"`;
  const p = Bun.spawn([join(bin, "sh"), "-c", script], { env: { PATH: bin, MMDS_NO_LINK: "1", MMDS_ADDR: "127.0.0.1", MMDS_PORT: String(port) }, stdout: "pipe", stderr: "pipe" });
  const [code, out] = await Promise.all([p.exited, new Response(p.stdout).text()]);
  return { code, out, file };
}

for (const json of [true, false]) {
  test(`the config comes from MMDS V2 with a session token (${json ? "JSON" : "plain text"} answer)`, async () => {
    const m = mmds(json);
    try {
      const r = await loadFrom(m.server.port!);
      expect(r.out).toBe("ok nimbus-mmds-1 uid=1000\n");
      expect(await Bun.file(r.file).text()).toBe(config);
      expect(m.seen).toEqual(["PUT /latest/api/token", "GET /nimbus/config"]);
      expect(await Bun.file(`${r.file}.ctl`).text()).toMatch(/^\x1eT[\d.]+ mmds\n$/); // told the host it read the config
    } finally {
      m.server.stop(true);
    }
  });
}

test("no MMDS answer: the load fails (the init reports it), nothing half-parsed", async () => {
  const closed = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("nope", { status: 404 }) });
  const port = closed.port!;
  closed.stop(true);
  const r = await loadFrom(port);
  expect(r.out).toBe("");
  expect(r.code).not.toBe(0);
});
