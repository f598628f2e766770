/** A read model of the `nimbus_github` bucket (job and runner facts), kept current by a KV watch. */
import type { KV } from "@nats-io/kv";
import type { JobFacts, RunnerFacts } from "./facts.ts";

export class FactsIndex {
  readonly jobs = new Map<number, JobFacts>();
  readonly runners = new Map<string, RunnerFacts>();
  private stopWatch: (() => void) | undefined;

  static async start(kv: KV, onJob?: (f: JobFacts) => void): Promise<FactsIndex> {
    const index = new FactsIndex();
    const watch = await kv.watch(); // nats-server 2.9 watches one filter: take all, skip the rest
    index.stopWatch = () => watch.stop();
    const names = new Map<string, string>(); // runner key → runner name
    (async () => {
      for await (const e of watch) {
        const [kind, ...rest] = e.key.split(".");
        const id = rest.join(".");
        const live = e.operation === "PUT" && e.value.length > 0;
        if (kind === "job") {
          if (live) {
            const f = e.json<JobFacts>();
            index.jobs.set(Number(id), f);
            onJob?.(f);
          } else index.jobs.delete(Number(id));
        } else if (kind === "runner") {
          // Keyed by the runner's name as recorded (a long or odd name's key is a hash of it).
          if (live) {
            const f = e.json<RunnerFacts>();
            const name = f.runnerName ?? id;
            names.set(id, name);
            index.runners.set(name, f);
          } else {
            index.runners.delete(names.get(id) ?? id);
            names.delete(id);
          }
        }
      }
    })();
    return index;
  }

  stop(): void {
    this.stopWatch?.();
  }
}
