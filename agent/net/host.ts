/**
 * Host network devices through `ip` and `nft`, optionally inside a network namespace (tests run
 * the whole host side in namespaces they create). Every operation is idempotent.
 */
import { AppError } from "../../src/core/errors.ts";

export class HostNet {
  constructor(readonly netns?: string) {}

  private wrap(argv: string[]): string[] {
    return this.netns ? ["ip", "netns", "exec", this.netns, ...argv] : argv;
  }

  async run(argv: string[], input?: string): Promise<{ code: number; out: string; err: string }> {
    const proc = Bun.spawn(this.wrap(argv), { stdin: input === undefined ? "ignore" : new TextEncoder().encode(input), stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, out, err };
  }

  async must(argv: string[], input?: string): Promise<string> {
    const r = await this.run(argv, input);
    if (r.code !== 0) throw new AppError("internal", `${argv.join(" ")}: ${r.err.trim()}`, { netns: this.netns });
    return r.out;
  }

  async linkExists(name: string): Promise<boolean> {
    return (await this.run(["ip", "link", "show", "dev", name])).code === 0;
  }

  async ensureBridge(name: string, gatewayCidr: string): Promise<void> {
    if (!(await this.linkExists(name))) await this.must(["ip", "link", "add", name, "type", "bridge"]);
    const addrs = await this.must(["ip", "-4", "-o", "addr", "show", "dev", name]);
    if (!addrs.includes(` ${gatewayCidr} `)) await this.must(["ip", "addr", "replace", gatewayCidr, "dev", name]);
    await this.must(["ip", "link", "set", name, "up"]);
    await this.must(["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  }

  /** A tap on the bridge, isolated from the other guests' ports. */
  async ensureTap(tap: string, bridge: string, user?: number): Promise<void> {
    if (!(await this.linkExists(tap))) await this.must(["ip", "tuntap", "add", "dev", tap, "mode", "tap", ...(user === undefined ? [] : ["user", `${user}`])]);
    await this.must(["ip", "link", "set", tap, "master", bridge]);
    await this.must(["ip", "link", "set", "dev", tap, "type", "bridge_slave", "isolated", "on"]);
    await this.must(["ip", "link", "set", tap, "up"]);
  }

  async deleteLink(name: string): Promise<void> {
    if (await this.linkExists(name)) await this.must(["ip", "link", "del", name]);
  }

  /** Tap devices whose name starts with `prefix` (for the reaper). */
  async tapsWithPrefix(prefix: string): Promise<string[]> {
    const out = await this.must(["ip", "tuntap", "show"]);
    return out.split("\n").map((l) => l.split(":")[0]!.trim()).filter((n) => n.startsWith(prefix));
  }

  async nftTableExists(family: string, table: string): Promise<boolean> {
    return (await this.run(["nft", "list", "table", family, table])).code === 0;
  }

  async applyNft(ruleset: string): Promise<void> {
    await this.must(["nft", "-f", "-"], ruleset);
  }
}
