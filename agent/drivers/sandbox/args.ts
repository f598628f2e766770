/**
 * bubblewrap arguments for one job: read-only system directories, a private writable workspace,
 * a private /tmp, new pid/ipc/uts namespaces, no capabilities, only the job's environment. Run as
 * an unprivileged uid by setpriv.
 *
 * Network: without `netns`, a network namespace of its own with nothing but loopback; with it, the
 * whole sandbox runs inside that namespace (made for this job by agent/net/job-netns.ts, entered
 * with `ip netns exec` before the uid is dropped). Never the host's network namespace.
 *
 * The job's environment (secrets included) is not in the argv, which any local user can read in
 * /proc/PID/cmdline: it is `envArgs()`, NUL-separated `--setenv K V` arguments that bwrap reads
 * from file descriptor ENV_FD (`--args`). Only the instance and agent markers, which are not
 * secret, stay on the command line (agent/drivers/sandbox/procs.ts finds sandboxes by them).
 */
export interface SandboxArgs {
  name: string;
  /** Agent that owns the sandbox: marks its processes so agents on one host never touch each other's. */
  owner: string;
  workspace: string;
  uid: number;
  command: string[];
  /** Run inside this network namespace (the job's own, under /run/netns); default: loopback only. */
  netns?: string;
  /** Read-only bind mounts, host source to sandbox target. */
  mounts?: { source: string; target: string }[];
}

/** The descriptor bwrap reads the environment arguments from. */
export const ENV_FD = 3;

const DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

/** bwrap's environment arguments for the job, NUL-separated (for `--args ENV_FD`). */
export function envArgs(env: Record<string, string>): string {
  const all: Record<string, string> = { PATH: DEFAULT_PATH, HOME: "/workspace", TMPDIR: "/tmp", ...env };
  return Object.entries(all).flatMap(([k, v]) => ["--setenv", k, v]).map((a) => `${a}\0`).join("");
}

/** The environment setpriv and bwrap themselves start with: nothing of the agent's. */
export const LAUNCH_ENV = { PATH: DEFAULT_PATH };

/** Every namespace but the network one, which is either new (`--unshare-net`) or the job's own. */
const UNSHARE = ["--unshare-user-try", "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"];

export function bwrapArgv(a: SandboxArgs): string[] {
  return [
    ...(a.netns ? ["ip", "netns", "exec", a.netns] : []),
    "setpriv", `--reuid=${a.uid}`, `--regid=${a.uid}`, "--clear-groups", "--",
    "bwrap",
    "--ro-bind", "/usr", "/usr",
    "--symlink", "usr/bin", "/bin",
    "--symlink", "usr/sbin", "/sbin",
    "--symlink", "usr/lib", "/lib",
    "--symlink", "usr/lib64", "/lib64",
    "--ro-bind", "/etc", "/etc",
    "--ro-bind-try", "/opt", "/opt",
    "--proc", "/proc",
    "--dev", "/dev",
    "--tmpfs", "/tmp",
    "--dir", "/workspace",
    "--bind", a.workspace, "/workspace",
    "--chdir", "/workspace",
    ...(a.mounts ?? []).flatMap((m) => ["--ro-bind", m.source, m.target]),
    "--remount-ro", "/",
    ...UNSHARE,
    ...(a.netns ? [] : ["--unshare-net"]),
    "--hostname", a.name.slice(0, 63),
    "--die-with-parent",
    "--new-session",
    "--cap-drop", "ALL",
    "--clearenv",
    "--args", String(ENV_FD),
    // After the job's own variables, so a job cannot unmark itself.
    "--setenv", "NIMBUS_INSTANCE", a.name,
    "--setenv", "NIMBUS_AGENT", a.owner,
    "--",
    ...a.command,
  ];
}
