/**
 * The sandbox driver: each job in a bubblewrap sandbox. Fast (~10 ms to start) with weaker
 * isolation than a VM: for development and trusted workloads. Killing bwrap ends the job's pid
 * namespace, so the whole process tree goes with it.
 *
 * A job without a network gets loopback only. A job with one (a GitHub runner) gets a network
 * namespace of its own on the agent's bridge, under the same egress policy as microVMs
 * (agent/net/job-netns.ts); without that (`network` unset: no root, or NIMBUS_VM_NETWORK=none)
 * such a job is refused, never given the host's network.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { INSTANCE_PREFIX, instanceName, type Driver, type Execution, type Instance, type OutputSink, type ProbeResult, type RunSpec } from "../types.ts";
import { AppError } from "../../../src/core/errors.ts";
import type { JobNetworks } from "../../net/types.ts";
import { bwrapArgv } from "./args.ts";
import { spawnSandbox } from "./env-fd.ts";
import { findInstancePids, killPids } from "./procs.ts";

export interface SandboxDriverOptions {
  /** Per-instance directories live under here. Every directory above it must be traversable by
   * `uid` (bubblewrap runs as that uid): so not under a 0700 home or temp dir. */
  root: string;
  uid: number;
  /** The owning agent's id: the driver lists and destroys only its own sandboxes. */
  owner: string;
  /** Network namespaces for jobs that need a network; without it those jobs are refused. */
  network?: JobNetworks;
  /** Why there is no `network` (said in the refusal). */
  noNetworkReason?: string;
}

export const NO_NETWORK_REASON = "the agent makes each such job a network namespace of its own, which needs root and NIMBUS_VM_NETWORK=nat or offline";

async function pump(stream: ReadableStream<Uint8Array>, sink: OutputSink, kind: "out" | "err"): Promise<void> {
  const decoder = new TextDecoder();
  const reader = stream.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    sink(kind, decoder.decode(value, { stream: true }));
  }
  const rest = decoder.decode();
  if (rest) sink(kind, rest);
}

export class SandboxDriver implements Driver {
  readonly name = "sandbox";
  constructor(private readonly opts: SandboxDriverOptions) {}

  async probe(): Promise<ProbeResult> {
    mkdirSync(this.opts.root, { recursive: true, mode: 0o711 });
    chmodSync(this.opts.root, 0o711);
    const probeDir = join(this.opts.root, "probe");
    mkdirSync(probeDir, { recursive: true });
    chownSync(probeDir, this.opts.uid, this.opts.uid);
    const p = spawnSandbox(bwrapArgv({ name: "nimbus-probe", owner: this.opts.owner, workspace: probeDir, uid: this.opts.uid, command: ["/bin/true"] }), {}, this.opts.root, "ignore");
    const code = await p.exited;
    rmSync(probeDir, { recursive: true, force: true });
    if (code === 0) return { ok: true, detail: "bubblewrap works" };
    const err = (await new Response(p.stderr).text()).trim();
    return { ok: false, detail: `bubblewrap failed (exit ${code}): ${err || "is it installed? apt-get install bubblewrap"}` };
  }

  private dirOf(name: string): string {
    return join(this.opts.root, name);
  }

  async prepare(spec: RunSpec): Promise<Instance> {
    const name = instanceName(spec.jobId, spec.attempt);
    const dir = this.dirOf(name);
    const workspace = join(dir, "workspace");
    if (spec.network && !this.opts.network)
      throw new AppError("unavailable", `a sandbox job with a network cannot run on this agent: ${this.opts.noNetworkReason ?? NO_NETWORK_REASON} (no job shares the host's network)`, { instance: name });
    mkdirSync(workspace, { recursive: true });
    chownSync(workspace, this.opts.uid, this.opts.uid);
    const meta: Record<string, unknown> = { workspace };
    if (spec.network) {
      try {
        const net = await this.opts.network!.attachNamespace(name);
        Object.assign(meta, { netns: net.netns, veth: net.veth, ip: net.ip });
      } catch (e) {
        // Not recorded as an instance yet: leave nothing behind for a restart to find.
        await this.opts.network!.detachNamespace(name).catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
        throw e;
      }
    }
    return { driver: this.name, name, jobId: spec.jobId, attempt: spec.attempt, dir, meta };
  }

  async start(instance: Instance, spec: RunSpec, sink: OutputSink): Promise<Execution> {
    const netns = typeof instance.meta.netns === "string" ? instance.meta.netns : undefined;
    if (spec.network && !netns) throw new AppError("internal", "a sandbox job with a network was prepared without its namespace", { instance: instance.name });
    const argv = bwrapArgv({ name: instance.name, owner: this.opts.owner, workspace: String(instance.meta.workspace), uid: this.opts.uid, command: spec.command, netns, mounts: spec.mounts });
    const proc = spawnSandbox(argv, spec.env, instance.dir);
    instance.pid = proc.pid;
    const output = Promise.all([pump(proc.stdout as ReadableStream<Uint8Array>, sink, "out"), pump(proc.stderr as ReadableStream<Uint8Array>, sink, "err")]);
    const exited = (async () => {
      const code = await proc.exited;
      await output;
      const signal = proc.signalCode ? String(proc.signalCode) : undefined;
      return signal ? { exitCode: 128 + (signalNumber(signal) ?? 9), signal } : { exitCode: code };
    })();
    return { pid: proc.pid, exited };
  }

  async stop(instance: Instance): Promise<void> {
    const pids = findInstancePids(instance.name, this.opts.owner);
    if (instance.pid) pids.set(instance.pid, instance.name);
    killPids(pids.keys());
    for (let i = 0; i < 200 && findInstancePids(instance.name, this.opts.owner).size > 0; i++) await Bun.sleep(10);
  }

  async destroy(instance: Instance): Promise<void> {
    await this.stop(instance);
    await this.opts.network?.detachNamespace(instance.name);
    rmSync(this.dirOf(instance.name), { recursive: true, force: true });
  }

  async list(): Promise<Instance[]> {
    const names = new Set<string>(findInstancePids(undefined, this.opts.owner).values());
    if (existsSync(this.opts.root)) for (const d of readdirSync(this.opts.root)) if (d.startsWith(INSTANCE_PREFIX)) names.add(d);
    for (const n of this.opts.network?.namespaces() ?? []) names.add(n);
    return [...names].map((name) => {
      const m = /^nimbus-(.+)-(\d+)$/.exec(name);
      return { driver: this.name, name, jobId: m?.[1] ?? "", attempt: Number(m?.[2] ?? 0), dir: this.dirOf(name), meta: { workspace: join(this.dirOf(name), "workspace") } };
    });
  }
}

function signalNumber(name: string): number | undefined {
  return ({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[name];
}
