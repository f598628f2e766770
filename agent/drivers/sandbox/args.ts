/**
 * bubblewrap arguments for one job: read-only system directories, a private writable workspace,
 * a private /tmp, no network (its own loopback only), new pid/ipc/uts namespaces, no
 * capabilities, only the job's environment. Run as an unprivileged uid by setpriv.
 */
export interface SandboxArgs {
  name: string;
  /** Agent that owns the sandbox: marks its processes so agents on one host never touch each other's. */
  owner: string;
  workspace: string;
  uid: number;
  env: Record<string, string>;
  command: string[];
  /** Share the host's network namespace (GitHub runners must reach GitHub); default: none. */
  network?: boolean;
  /** Read-only bind mounts, host source to sandbox target. */
  mounts?: { source: string; target: string }[];
}

const DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

export function bwrapArgv(a: SandboxArgs): string[] {
  const env: Record<string, string> = { PATH: DEFAULT_PATH, HOME: "/workspace", TMPDIR: "/tmp", ...a.env, NIMBUS_INSTANCE: a.name, NIMBUS_AGENT: a.owner };
  const setenv = Object.entries(env).flatMap(([k, v]) => ["--setenv", k, v]);
  return [
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
    "--unshare-all",
    ...(a.network ? ["--share-net"] : []),
    "--hostname", a.name.slice(0, 63),
    "--die-with-parent",
    "--new-session",
    "--cap-drop", "ALL",
    "--clearenv",
    ...setenv,
    "--",
    ...a.command,
  ];
}
