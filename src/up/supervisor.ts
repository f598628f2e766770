/**
 * The single-host supervisor: nats-server (JetStream in the data dir), the control plane, the log
 * service, the Actions cache service, the registry and agents, each a child process in its own session (so Ctrl-C reaches only us and we
 * stop them in order), output appended to `<data-dir>/logs/<name>.log`.
 */
import { openSync, closeSync } from "node:fs";
import { join, resolve } from "node:path";
import { createHash } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { bootstrapToken, type MintDeps } from "../auth/mint.ts";
import { TokenLedger } from "../auth/ledger-store.ts";
import { connectNats } from "../nats/connect.ts";
import { ensureTokenLedger } from "../nats/topology.ts";
import { keptSecret, writePrivate } from "./state.ts";
import { privateDir } from "../core/private-files.ts";
import { agentArgv, serviceArgv } from "../core/binaries.ts";
import { isNatsChild, natsNodes, nodeConfig, type ClusterAuth } from "./nats-nodes.ts";
import { mintUser, operatorConfig } from "../nats/decentralized.ts";
import { keptTrust } from "./trust.ts";
import { agentPermissions, agentUser, authorizationBlock, cachePermissions, logsPermissions, registryPermissions, type NatsUser } from "../nats/permissions.ts";

const ROOT = resolve(import.meta.dir, "../..");

export interface StackOptions {
  dataDir: string;
  portBase: number;
  agents?: number;
  /** nats-server nodes: 1, or a JetStream cluster of 3 or 5 on this host (every stream and bucket then at 3 replicas). */
  natsCluster?: number;
  /** How processes authenticate to NATS: `users` (one user and password each in the server's config,
   * rewritten for each new agent) or `jwt` (decentralized auth: the server trusts an operator; services
   * get user JWTs minted here, agents buy short-lived ones from the control plane with their token). */
  natsAuth?: "users" | "jwt";
  agentEnv?: Record<string, string>;
  controlEnv?: Record<string, string>;
  cacheEnv?: Record<string, string>;
  registryEnv?: Record<string, string>;
  /** Readiness deadline for each service. */
  startTimeoutMs?: number;
  /** Restart a service that exits on its own (with backoff; at most 5 times a minute). */
  restartOnCrash?: boolean;
  /** Told about crashes and restarts. */
  onEvent?: (message: string) => void;
  /** A benchmark's aid: each Bun service writes a CPU profile (markdown, `<service>.md`) here when it stops. */
  cpuProfileDir?: string;
}

export interface Child {
  name: string;
  proc: ReturnType<typeof Bun.spawn>;
  env: Record<string, string>;
}

export interface Stack {
  dataDir: string;
  controlUrl: string;
  logsUrl: string;
  cacheUrl: string;
  registryUrl: string;
  /** Every node's client URL, comma-separated (as NIMBUS_NATS_URL takes them). */
  natsUrl: string;
  /** Node 1's monitoring URL. */
  natsMonitorUrl: string;
  /** The nats-server nodes, by child name (`nats`, `nats-2`, …). */
  natsNodes: { child: string; server: string; url: string; monitorUrl: string }[];
  /** Replicas of every stream and bucket: 1 on one node, 3 on a cluster. */
  natsReplicas: number;
  adminToken: string;
  authSecret: string;
  /** The control plane's NATS credentials (every permission): what tests and tools connect as (spread into connectNats). */
  natsAuth: { user?: string; password?: string; credentials?: () => { jwt: string; seed: string } };
  children: Map<string, Child>;
  /** Start one more agent (its own state dir under the data dir). */
  startAgent(name: string, env?: Record<string, string>): Promise<Child>;
  /** The agent id of the agent started as `name`: unique per data dir, so stacks side by side never
   * take each other's sandboxes or VMs for their own. */
  agentId(name: string): string;
  /** Start (or restart) a named service with the env it had. */
  restart(name: string): Promise<Child>;
  stopChild(name: string, signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export const ports = (base: number) => ({ control: base, logs: base + 1, nats: base + 2, natsMonitor: base + 3, cache: base + 4, registry: base + 5 });

async function waitHealthy(url: string, child: Child, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.proc.exitCode !== null) throw new Error(`${child.name} exited with code ${child.proc.exitCode} during start; see its log`);
    const ok = await fetch(url).then((r) => r.ok, () => false);
    if (ok) return;
    await Bun.sleep(15);
  }
  throw new Error(`${child.name} not healthy within ${timeoutMs} ms (${url})`);
}

/** A cluster node knows its JetStream meta leader (elected ~0.2 s after a quorum of nodes is up). */
async function waitMetaLeader(jszUrl: string, child: Child, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.proc.exitCode !== null) throw new Error(`${child.name} exited with code ${child.proc.exitCode} during start; see its log`);
    const jsz = (await fetch(jszUrl).then((r) => r.json(), () => ({}))) as { meta_cluster?: { leader?: string } };
    if (jsz.meta_cluster?.leader) return;
    await Bun.sleep(25);
  }
  throw new Error(`${child.name}: no JetStream meta leader within ${timeoutMs} ms (${jszUrl}); the other nodes must be up`);
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const dataDir = resolve(opts.dataDir);
  const logDir = join(dataDir, "logs");
  privateDir(dataDir);
  privateDir(logDir);
  privateDir(join(dataDir, "nats")); // the JetStream store(s): nats-server keeps them, we make them owner-only
  const p = ports(opts.portBase);
  const nodes = natsNodes(opts.portBase, opts.natsCluster ?? 1, dataDir);
  for (const n of nodes) privateDir(n.storeDir);
  // Configured here once: every process that creates a stream or bucket is given this.
  const replicas = nodes.length === 1 ? 1 : 3;
  const cluster: ClusterAuth | undefined = nodes.length > 1 ? { name: `nimbus-${createHash("sha256").update(dataDir).digest("hex").slice(0, 6)}`, user: "route", password: keptSecret(join(dataDir, "nats-users"), "cluster-route", 24) } : undefined;
  const authSecret = keptSecret(dataDir, "auth-secret");
  // One NATS user per process kind and per agent, passwords kept in <data-dir>/nats-users (0600).
  const natsUser = (user: string, permissions?: NatsUser["permissions"]): NatsUser => ({ user, password: keptSecret(join(dataDir, "nats-users"), user, 24), permissions });
  const natsUsers = new Map<string, NatsUser>();
  for (const u of [natsUser("control"), natsUser("logs", logsPermissions()), natsUser("cache", cachePermissions()), natsUser("registry", registryPermissions())]) natsUsers.set(u.user, u);
  const jwtMode = opts.natsAuth === "jwt";
  // Decentralized auth: the operator, account and their seeds, kept in <data-dir>/nats-trust.json (0600).
  const trust = jwtMode ? keptTrust(dataDir) : undefined;
  const serviceCreds = new Map<string, { jwt: string; seed: string }>();
  const credsOf = (user: string) => {
    let c = serviceCreds.get(user);
    if (!c) serviceCreds.set(user, (c = mintUser(trust!.accountSeed, user, natsUsers.get(user)!.permissions, 365 * 86_400_000)));
    return c;
  };
  const natsEnv = (user: string): Record<string, string> =>
    jwtMode ? { NIMBUS_NATS_JWT: credsOf(user).jwt, NIMBUS_NATS_SEED: credsOf(user).seed } : { NIMBUS_NATS_USER: user, NIMBUS_NATS_PASSWORD: natsUsers.get(user)!.password };
  const controlAuth = (): Stack["natsAuth"] => (jwtMode ? { credentials: () => credsOf("control") } : { user: "control", password: natsUsers.get("control")!.password });
  const secretsKey = keptSecret(dataDir, "secrets-key"); // job secrets' key: the control plane alone gets it
  const host = "127.0.0.1";
  const natsUrl = nodes.map((n) => `nats://${host}:${n.client}`).join(",");
  const controlUrl = `http://${host}:${p.control}`;
  const logsUrl = `http://${host}:${p.logs}`;
  const cacheUrl = `http://${host}:${p.cache}`;
  const registryUrl = `http://${host}:${p.registry}`;
  const timeout = opts.startTimeoutMs ?? 10_000;
  const children = new Map<string, Child>();
  const common = { NIMBUS_NATS_URL: natsUrl, NIMBUS_NATS_REPLICAS: String(replicas), NIMBUS_AUTH_SECRET: authSecret, NIMBUS_LOGS_URL: logsUrl, NIMBUS_REGISTRY_URL: registryUrl };

  let stopping = false;
  const intentional = new WeakSet<Child>();
  const crashes = new Map<string, number[]>();
  const onCrash = (child: Child, code: number | null) => {
    if (stopping || !opts.restartOnCrash || intentional.has(child) || children.get(child.name) !== child) return;
    const recent = (crashes.get(child.name) ?? []).filter((t) => Date.now() - t < 60_000);
    recent.push(Date.now());
    crashes.set(child.name, recent);
    if (recent.length > 5) return opts.onEvent?.(`${child.name} exited (code ${code}) 6 times within a minute; not restarting it. See ${logDir}/${child.name}.log`);
    const delay = Math.min(10_000, 250 * 2 ** (recent.length - 1));
    opts.onEvent?.(`${child.name} exited (code ${code}); restarting in ${delay} ms`);
    setTimeout(() => {
      if (stopping) return;
      services[child.name]!().then(
        () => opts.onEvent?.(`${child.name} restarted`),
        (e) => opts.onEvent?.(`${child.name} failed to restart: ${(e as Error).message}`),
      );
    }, delay);
  };
  const spawn = (name: string, argv: string[], env: Record<string, string>): Child => {
    const fd = openSync(join(logDir, `${name}.log`), "a", 0o600);
    const profiled = opts.cpuProfileDir && argv[0] === process.execPath ? [argv[0]!, "--cpu-prof-md", `--cpu-prof-dir=${opts.cpuProfileDir}`, `--cpu-prof-name=${name}.md`, ...argv.slice(1)] : argv;
    const proc = Bun.spawn(["setsid", ...profiled], { cwd: ROOT, env: { ...process.env, ...env }, stdin: "ignore", stdout: fd, stderr: fd });
    closeSync(fd);
    const child = { name, proc, env };
    children.set(name, child);
    void proc.exited.then((code) => onCrash(child, code));
    return child;
  };

  // The users and their passwords go in a 0600 config file per node, not on the command line where `ps` shows them.
  const natsConf = (n: (typeof nodes)[number]) => join(dataDir, n.child === "nats" ? "nats.conf" : `${n.child}.conf`);
  const writeNatsConf = () => {
    const auth = trust ? operatorConfig(trust) : authorizationBlock([...natsUsers.values()]);
    for (const n of nodes) writePrivate(natsConf(n), nodeConfig(host, n, nodes, auth, cluster));
  };
  /** A new agent's user: rewrite the configs and have every node reload (SIGHUP), waiting until each has. */
  const addNatsUser = async (u: NatsUser) => {
    if (natsUsers.get(u.user)?.password === u.password && JSON.stringify(natsUsers.get(u.user)?.permissions) === JSON.stringify(u.permissions)) return;
    natsUsers.set(u.user, u);
    writeNatsConf();
    await Promise.all(
      nodes.map(async (n) => {
        const c = children.get(n.child);
        if (!c || c.proc.exitCode !== null || c.proc.signalCode !== null) return; // written for its next start
        const loaded = async () => (await fetch(`http://${host}:${n.monitor}/varz`).then((r) => r.json(), () => ({}))).config_load_time as string | undefined;
        const before = await loaded();
        c.proc.kill("SIGHUP");
        const deadline = Date.now() + timeout;
        while ((await loaded()) === before) {
          if (Date.now() > deadline) throw new Error(`nats-server ${n.server} did not reload ${natsConf(n)} within ${timeout} ms`);
          await Bun.sleep(20);
        }
      }),
    );
  };
  const startNode = async (n: (typeof nodes)[number]) => {
    writeNatsConf();
    const c = spawn(n.child, ["nats-server", "-c", natsConf(n)], {});
    // A cluster node restarted alone is healthy once it has JetStream; at first start the nodes start together.
    await waitHealthy(`http://${host}:${n.monitor}/healthz?js-enabled-only=true`, c, timeout);
    // Until the cluster has a JetStream meta leader, API requests go unanswered (timeouts, not errors).
    if (nodes.length > 1) await waitMetaLeader(`http://${host}:${n.monitor}/jsz`, c, timeout);
    return c;
  };
  const services: Record<string, () => Promise<Child>> = {
    ...Object.fromEntries(nodes.map((n) => [n.child, () => startNode(n)])),
    logs: async () => {
      const c = spawn("logs", serviceArgv("logs", ROOT), { ...common, ...natsEnv("logs"), NIMBUS_LOGS_PORT: String(p.logs), NIMBUS_LOGS_DB: join(dataDir, "logs.sqlite") });
      await waitHealthy(`${logsUrl}/healthz`, c, timeout);
      return c;
    },
    cache: async () => {
      const c = spawn("cache", serviceArgv("cache", ROOT), {
        NIMBUS_AUTH_SECRET: authSecret,
        // Its NATS user reads the token ledger only (src/nats/permissions.ts).
        NIMBUS_NATS_URL: natsUrl,
        NIMBUS_NATS_REPLICAS: String(replicas),
        ...natsEnv("cache"),
        NIMBUS_CACHE_PORT: String(p.cache),
        NIMBUS_CACHE_DB: join(dataDir, "cache.sqlite"),
        NIMBUS_CACHE_DIR: join(dataDir, "cache"),
        ...opts.cacheEnv,
      });
      await waitHealthy(`${cacheUrl}/healthz`, c, timeout);
      return c;
    },
    registry: async () => {
      const c = spawn("registry", serviceArgv("registry", ROOT), {
        NIMBUS_AUTH_SECRET: authSecret,
        // Its NATS user watches the token ledger only (src/nats/permissions.ts).
        NIMBUS_NATS_URL: natsUrl,
        NIMBUS_NATS_REPLICAS: String(replicas),
        ...natsEnv("registry"),
        NIMBUS_REGISTRY_PORT: String(p.registry),
        NIMBUS_REGISTRY_DIR: join(dataDir, "registry"),
        ...opts.registryEnv,
      });
      await waitHealthy(`${registryUrl}/healthz`, c, timeout);
      return c;
    },
    control: async () => {
      const c = spawn("control", serviceArgv("control", ROOT), { ...common, ...natsEnv("control"), NIMBUS_SECRETS_KEY: secretsKey, NIMBUS_CONTROL_PORT: String(p.control), NIMBUS_ENROLL_CACHE_URL: cacheUrl, ...(trust ? { NIMBUS_NATS_ACCOUNT_SEED: trust.accountSeed } : {}), ...opts.controlEnv });
      await waitHealthy(`${controlUrl}/readyz`, c, timeout);
      return c;
    },
  };

  const stackTag = createHash("sha256").update(dataDir).digest("hex").slice(0, 6);
  const agentId = (name: string) => `${name}-${stackTag}`;
  // Every token the supervisor mints is recorded in the ledger (it holds the secret and reaches NATS).
  let nc: NatsConnection | undefined;
  let minting: MintDeps | undefined;
  const mint = async (r: Parameters<typeof bootstrapToken>[1]) => {
    if (!minting) {
      nc = await connectNats({ url: natsUrl, ...controlAuth(), name: "nimbus-up" });
      minting = { secret: authSecret, ledger: new TokenLedger(await ensureTokenLedger(nc, { replicas })) };
    }
    return (await bootstrapToken(minting, r)).token;
  };
  const startAgent = async (name: string, env: Record<string, string> = {}): Promise<Child> => {
    const id = env.NIMBUS_AGENT_ID ?? opts.agentEnv?.NIMBUS_AGENT_ID ?? agentId(name);
    const token = await mint({ sub: id, role: "agent", agentId: id, ttlSeconds: 365 * 86400 });
    const user = agentUser(id);
    // Under decentralized auth the agent buys its own NATS user from the control plane: nothing to configure here.
    if (!jwtMode) await addNatsUser(natsUser(user, agentPermissions(id)));
    const c = spawn(name, agentArgv(ROOT), {
      ...common,
      ...(jwtMode ? { NIMBUS_AGENT_CONTROL_URL: controlUrl } : natsEnv(user)),
      NIMBUS_AGENT_TOKEN: token,
      NIMBUS_AGENT_DIR: join(dataDir, name),
      NIMBUS_AGENT_ID: agentId(name),
      NIMBUS_AGENT_CACHE_URL: cacheUrl,
      // Jobs with a network get a config.json for the registry at this port on their gateway.
      NIMBUS_AGENT_REGISTRY_URL: registryUrl,
      ...opts.agentEnv,
      ...env,
    });
    services[name] = async () => spawn(name, agentArgv(ROOT), c.env);
    return c;
  };

  const stopChild = async (name: string, signal: NodeJS.Signals = "SIGTERM", timeoutMs = 10_000) => {
    const c = children.get(name);
    if (!c || c.proc.exitCode !== null || c.proc.signalCode !== null) return;
    intentional.add(c);
    c.proc.kill(signal);
    const t = setTimeout(() => c.proc.kill("SIGKILL"), timeoutMs);
    await c.proc.exited;
    clearTimeout(t);
  };

  const stack: Stack = {
    dataDir, controlUrl, logsUrl, cacheUrl, registryUrl, natsUrl, natsMonitorUrl: `http://${host}:${p.natsMonitor}`,
    natsNodes: nodes.map((n) => ({ child: n.child, server: n.server, url: `nats://${host}:${n.client}`, monitorUrl: `http://${host}:${n.monitor}` })),
    natsReplicas: replicas,
    adminToken: "", authSecret, natsAuth: controlAuth(), children,
    startAgent,
    agentId,
    restart: async (name) => {
      await stopChild(name);
      return services[name]!();
    },
    stopChild,
    async stop() {
      stopping = true;
      const agents = [...children.keys()].filter((n) => !isNatsChild(n) && !["logs", "control", "cache", "registry"].includes(n));
      await Promise.all(agents.map((n) => stopChild(n, "SIGTERM", 10_000)));
      await stopChild("control");
      await stopChild("cache");
      await stopChild("registry");
      await stopChild("logs");
      await nc?.close().catch(() => {});
      await Promise.all(nodes.map((n) => stopChild(n.child)));
    },
  };

  try {
    // Cluster nodes start together: each waits for a JetStream meta leader, which needs a quorum.
    const natsUp = await Promise.allSettled(nodes.map((n) => services[n.child]!()));
    const natsFailed = natsUp.find((r) => r.status === "rejected");
    if (natsFailed) throw (natsFailed as PromiseRejectedResult).reason;
    // The admin token is an operator token, recorded like any other.
    stack.adminToken = await mint({ sub: "admin", role: "operator", ttlSeconds: 30 * 86400 });
    // Let every start finish (or fail) before any cleanup, so nothing is spawned after stop().
    const started = await Promise.allSettled([services.logs!(), services.control!(), services.cache!(), services.registry!()]);
    const failed = started.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    for (let i = 1; i <= (opts.agents ?? 1); i++) await startAgent(`agent-${i}`);
  } catch (e) {
    await stack.stop();
    throw e;
  }
  return stack;
}
