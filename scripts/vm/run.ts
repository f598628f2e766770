/** Small helpers for the asset builders: run a command or fail naming it, hash files. */
import { AppError } from "../../src/core/errors.ts";

export async function run(argv: string[], opts: { cwd?: string; stdin?: Blob | Uint8Array } = {}): Promise<string> {
  const proc = Bun.spawn(argv, { cwd: opts.cwd, stdin: opts.stdin ?? "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0)
    throw new AppError("internal", `${argv[0]} failed (exit ${code}): ${err.trim().slice(-600)}`, { argv: argv.join(" ") });
  return out;
}

/** sh -c SCRIPT with positional arguments ($1...). */
export function sh(script: string, args: string[] = [], cwd?: string): Promise<string> {
  return run(["sh", "-c", script, "sh", ...args], { cwd });
}

export async function sha256File(path: string): Promise<string> {
  const h = new Bun.CryptoHasher("sha256");
  h.update(await Bun.file(path).arrayBuffer());
  return h.digest("hex");
}

export function sha256Text(parts: (string | Uint8Array)[]): string {
  const h = new Bun.CryptoHasher("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
}

export async function which(cmd: string): Promise<string | undefined> {
  return Bun.which(cmd) ?? (await Bun.file(`/usr/sbin/${cmd}`).exists() ? `/usr/sbin/${cmd}` : undefined);
}
