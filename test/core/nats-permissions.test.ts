/**
 * The NATS users `nimbus up` writes (src/nats/permissions.ts), against a real nats-server 2.9 with
 * that authorization block: an agent's user can do everything an agent does with the nats.js v3
 * client (and the server reports no violation for any of it), and is refused what it must not do.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { errors, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { connectNats } from "../../src/nats/connect.ts";
import { ensurePoolConsumer, ensureTopology, openTopology, queueSubject, QUEUE_STREAM, type Topology } from "../../src/nats/topology.ts";
import { AGENT_SERVICE_SUBJECTS, agentInboxPrefix, agentPermissions, agentUser, authorizationBlock, logsPermissions, registryPermissions, SERVICE_INBOX } from "../../src/nats/permissions.ts";
import { appendAudit, readAudit } from "../../src/auth/audit.ts";
import { watchedLimit } from "../../src/jobs/limits/store.ts";
import { ensureLimitsBucket, ensureTokenLedger } from "../../src/nats/topology.ts";
import { startNats, type NatsServer } from "../support/nats.ts";
import { mintUser, newTrust, operatorConfig } from "../../src/nats/decentralized.ts";
import { waitFor } from "../support/net.ts";

const users = [
  { user: "control", password: "control-pass" },
  { user: agentUser("agent-a"), password: "a-pass", permissions: agentPermissions("agent-a") },
  { user: agentUser("agent-b"), password: "b-pass", permissions: agentPermissions("agent-b") },
  { user: "logs", password: "logs-pass", permissions: logsPermissions() },
  { user: "registry", password: "registry-pass", permissions: registryPermissions() },
];

/**
 * The same suite twice: the users in the server's `authorization` block (`nimbus up` today), and
 * decentralized auth (src/nats/decentralized.ts: the server trusts an operator; each user is a JWT
 * its account signed, carrying the same permissions).
 */
for (const mode of ["users", "jwt"] as const) describe(`NATS auth by ${mode}`, () => {
  const trust = newTrust();
  const creds = new Map(users.map((u) => [u.user, mintUser(trust.accountSeed, u.user, u.permissions, 3_600_000)]));
  const auth = (user: string, password: string) => (mode === "users" ? { user, password } : { credentials: () => creds.get(user)! });
  let nats: NatsServer;
  let control: NatsConnection;
  let controlTopo: Topology;
  const enc = new TextEncoder();

  /** A connection that records every permissions violation the server reports to it. */
  async function as(user: string, password: string, inboxPrefix?: string) {
    const nc = await connectNats({ url: nats.url, ...auth(user, password), name: user, inboxPrefix });
    const violations: InstanceType<typeof errors.PermissionViolationError>[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.type === "error" && s.error instanceof errors.PermissionViolationError) violations.push(s.error);
    })();
    const refused = (operation: "publish" | "subscription", subject: string) =>
      waitFor(() => violations.some((v) => v.operation === operation && v.subject === subject), 5_000, `a ${operation} violation on ${subject}`);
    return { nc, violations, refused };
  }

  let a: Awaited<ReturnType<typeof as>>;
  let b: Awaited<ReturnType<typeof as>>;
  let aTopo: Topology;

  beforeAll(async () => {
    nats = await startNats({ extraConfig: mode === "users" ? authorizationBlock(users) : operatorConfig(trust) });
    control = await connectNats({ url: nats.url, ...auth("control", "control-pass"), name: "control" });
    controlTopo = await ensureTopology(control);
    a = await as(agentUser("agent-a"), "a-pass", agentInboxPrefix("agent-a"));
    b = await as(agentUser("agent-b"), "b-pass", agentInboxPrefix("agent-b"));
    aTopo = await openTopology(a.nc);
  }, 30_000);
  afterAll(async () => {
    await Promise.all([control, a?.nc, b?.nc].map((c) => c?.close()));
    await nats?.stop();
  });

  describe("an agent's NATS user can do what an agent does", () => {
    test("pull its pool, read and write job records, leases, runner facts and its registry key, watch signals, publish events", async () => {
      const pool = "sandbox-x64-2c4g";
      await ensurePoolConsumer(aTopo.jsm, pool);
      await controlTopo.js.publish(queueSubject(pool), enc.encode('{"jobId":"j1","attempt":1}'), { msgID: "j1:1" });
      const consumer = await aTopo.js.consumers.get(QUEUE_STREAM, await ensurePoolConsumer(aTopo.jsm, pool));
      const m = await consumer.next({ expires: 5_000 });
      expect(m?.json()).toEqual({ jobId: "j1", attempt: 1 });
      await m!.ackAck();

      const rev = await controlTopo.jobs.create("j1", enc.encode('{"state":"queued"}'));
      expect((await aTopo.jobs.get("j1"))?.string()).toBe('{"state":"queued"}');
      await aTopo.jobs.update("j1", enc.encode('{"state":"leased"}'), rev);
      const lease = await aTopo.leases.create("j1", enc.encode('{"agentId":"agent-a"}'));
      await aTopo.leases.update("j1", enc.encode('{"agentId":"agent-a","renewed":1}'), lease);
      await aTopo.leases.delete("j1");
      await aTopo.agents.put("agent-a", enc.encode("{}"));
      expect(await aTopo.agents.get("agent-b")).toBeNull();
      await aTopo.github.put("runner.nimbus-j1", enc.encode("{}"));
      expect((await aTopo.github.get("runner.nimbus-j1"))?.operation).toBe("PUT");

      const watch = await aTopo.signals.watch();
      await controlTopo.signals.put("j1", enc.encode("cancel"));
      for await (const e of watch) {
        expect(e.key).toBe("j1");
        break;
      }
      watch.stop();
      const facts = await aTopo.github.watch({ key: "runner.nimbus-j1" });
      for await (const e of facts) {
        expect(e.key).toBe("runner.nimbus-j1");
        break;
      }
      facts.stop();
      await jetstream(a.nc).publish("nimbus.events.job.j1", enc.encode("{}"));

      // The control plane's services answer on the agent's own inbox.
      const svc = control.subscribe(AGENT_SERVICE_SUBJECTS[0]!, { callback: (_e, msg) => void msg.respond(enc.encode("ok")) });
      await control.flush(); // the subscription is on the server before the agent asks
      expect((await a.nc.request(AGENT_SERVICE_SUBJECTS[0]!, enc.encode("{}"), { timeout: 5_000 })).string()).toBe("ok");
      svc.unsubscribe();
      await a.nc.flush();
      expect(a.violations.map((v) => `${v.operation} ${v.subject}`)).toEqual([]);
    });

    test("the log service's user reads job records and leases", async () => {
      const logs = await as("logs", "logs-pass", SERVICE_INBOX.logs);
      const topo = await openTopologyBuckets(logs.nc);
      expect((await topo.jobs.get("j1"))?.operation).toBe("PUT");
      await topo.leases.get("j1");
      expect(logs.violations).toEqual([]);
      await expect(topo.jobs.put("j1", enc.encode("{}"))).rejects.toThrow();
      await logs.refused("publish", "$KV.nimbus_jobs.j1");
      await logs.nc.close();
    });
  });

  describe("the registry's NATS user", () => {
    test("watches the ledger and the org limits and appends audit records; it may not change a limit or touch job records", async () => {
      const reg = await as("registry", "registry-pass", SERVICE_INBOX.registry);
      await ensureTokenLedger(reg.nc);
      const limits = await ensureLimitsBucket(reg.nc);
      await control.publish("$KV.nimbus_limits.regorg", enc.encode(JSON.stringify({ registryBytes: 42 })));
      const quota = await watchedLimit(limits, "registryBytes", 0);
      await waitFor(() => quota.of("regorg") === 42, 5_000, "the registry's watch to see the limit");
      quota.stop();
      const record = { at: Date.now(), actor: { sub: "a", role: "org-admin" as const, org: "regorg", tokenId: "t-1" }, action: "registry.delete" as const, org: "regorg", target: "regorg/app", remote: null, outcome: "ok" };
      await appendAudit(jetstream(reg.nc), record);
      const seen = [];
      for await (const r of readAudit(controlTopo.js, { org: "regorg" })) seen.push(r);
      expect(seen).toEqual([record]);
      expect(reg.violations).toEqual([]);
      await expect(limits.put("regorg", enc.encode("{}"))).rejects.toThrow();
      await reg.refused("publish", "$KV.nimbus_limits.regorg");
      reg.nc.publish("$KV.nimbus_jobs.j1", enc.encode("{}"));
      await reg.refused("publish", "$KV.nimbus_jobs.j1");
      await reg.nc.close();
    });
  });

  async function openTopologyBuckets(nc: NatsConnection) {
    const { Kvm } = await import("@nats-io/kv");
    const kvm = new Kvm(jetstream(nc));
    return { jobs: await kvm.open("nimbus_jobs"), leases: await kvm.open("nimbus_leases") };
  }

  describe("an agent's NATS user is refused", () => {
    test("subscribing to the control plane's service subjects (impersonation), even in their queue group", async () => {
      for (const subject of AGENT_SERVICE_SUBJECTS) {
        a.nc.subscribe(subject);
        await a.refused("subscription", subject);
      }
      a.nc.subscribe("nimbus.jobs.handout", { queue: "nimbus-handout" });
      await waitFor(() => a.violations.filter((v) => v.subject === "nimbus.jobs.handout").length >= 2, 5_000, "a queue-group subscription violation");
    });

    test("reading another agent's inbox, or every inbox", async () => {
      for (const subject of [`${agentInboxPrefix("agent-b")}.>`, "_INBOX.>", ">"]) {
        a.nc.subscribe(subject);
        await a.refused("subscription", subject);
      }
    });

    test("publishing into another agent's inbox (a forged reply)", async () => {
      const got: string[] = [];
      b.nc.subscribe(`${agentInboxPrefix("agent-b")}.forged`, { callback: (_e, m) => void got.push(m.string()) });
      await b.nc.flush();
      a.nc.publish(`${agentInboxPrefix("agent-b")}.forged`, enc.encode("forged"));
      await a.refused("publish", `${agentInboxPrefix("agent-b")}.forged`);
      await b.nc.flush();
      expect(got).toEqual([]);
    });

    test("publishing a queue message as the control plane would", async () => {
      const before = (await controlTopo.jsm.streams.info(QUEUE_STREAM)).state.last_seq;
      const subject = queueSubject("sandbox-x64-2c4g");
      await expect(aTopo.js.publish(subject, enc.encode('{"jobId":"forged","attempt":1}'), { timeout: 1_000 })).rejects.toThrow();
      await a.refused("publish", subject);
      expect((await controlTopo.jsm.streams.info(QUEUE_STREAM)).state.last_seq).toBe(before);
    });

    test("deleting or purging a stream or bucket, or changing a stream's configuration", async () => {
      for (const [subject, call] of [
        [`$JS.API.STREAM.DELETE.${QUEUE_STREAM}`, () => aTopo.jsm.streams.delete(QUEUE_STREAM)],
        [`$JS.API.STREAM.PURGE.KV_nimbus_jobs`, () => aTopo.jsm.streams.purge("KV_nimbus_jobs")],
        [`$JS.API.STREAM.DELETE.KV_nimbus_leases`, () => aTopo.jsm.streams.delete("KV_nimbus_leases")],
        [`$JS.API.STREAM.UPDATE.${QUEUE_STREAM}`, () => aTopo.jsm.streams.update(QUEUE_STREAM, { max_msgs: 1 })],
        [`$JS.API.CONSUMER.DELETE.${QUEUE_STREAM}.pool_sandbox-x64-2c4g`, () => aTopo.jsm.consumers.delete(QUEUE_STREAM, "pool_sandbox-x64-2c4g")],
      ] as const) {
        await expect((call as () => Promise<unknown>)()).rejects.toThrow();
        await a.refused("publish", subject);
      }
      const streams = (await controlTopo.jsm.streams.names().next()).sort();
      expect(streams).toContain(QUEUE_STREAM);
      expect(streams).toContain("KV_nimbus_leases");
      expect((await controlTopo.jobs.get("j1"))?.operation).toBe("PUT");
      expect((await controlTopo.jsm.consumers.info(QUEUE_STREAM, "pool_sandbox-x64-2c4g")).name).toBe("pool_sandbox-x64-2c4g");
    });

    test("writing another agent's registry key or a cancel signal", async () => {
      await expect(aTopo.agents.put("agent-b", enc.encode("{}"), { timeout: 1_000 } as never)).rejects.toThrow();
      await a.refused("publish", "$KV.nimbus_agents.agent-b");
      await expect(aTopo.signals.put("j1", enc.encode("cancel"))).rejects.toThrow();
      await a.refused("publish", "$KV.nimbus_signals.j1");
      expect(await controlTopo.agents.get("agent-b")).toBeNull();
    });

    test("an inbox prefix is one subject token: an agent id with a dot or a wildcard is refused", () => {
      for (const id of ["a.b", "a*", "a>", "", "x".repeat(65)]) expect(() => agentInboxPrefix(id)).toThrow();
    });
  });
});
