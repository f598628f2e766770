/**
 * The initramfs: static busybox, the guest init (agent/guest), and the kernel's virtio modules, as
 * an uncompressed newc cpio (decompressing costs more than reading under software emulation).
 * Named by the hash of its inputs, so a change to the guest init yields a new file and a rebuild.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { KernelAssets } from "./kernel.ts";
import { sh, sha256Text } from "./run.ts";

export const GUEST_DIR = join(import.meta.dir, "../../agent/guest");
const BUSYBOX = "/bin/busybox";

async function inputsHash(kernel: KernelAssets): Promise<string> {
  const parts: (string | Uint8Array)[] = [kernel.version];
  for (const f of guestFiles()) parts.push(f, await Bun.file(join(GUEST_DIR, f)).bytes());
  parts.push(await Bun.file(BUSYBOX).bytes());
  return sha256Text(parts).slice(0, 16);
}

/** The files that go into the initramfs: `init` and the `*.sh` it sources (not the host-side TS). */
export function guestFiles(): string[] {
  return readdirSync(GUEST_DIR).filter((f) => f === "init" || f.endsWith(".sh")).sort();
}

export async function ensureInitramfs(outDir: string, kernel: KernelAssets): Promise<string> {
  if (!existsSync(BUSYBOX)) throw new Error("static busybox missing: apt-get install busybox-static");
  const out = join(outDir, `initramfs-${await inputsHash(kernel)}.cpio`);
  if (existsSync(out)) return out;
  const tmp = join(outDir, `initramfs.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await sh(
    `set -e
cd "$1"
mkdir -p bin dev proc sys run tmp mnt newroot lib/modules nimbus
cp "$2" bin/busybox
for a in $(bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "bin/$a"; done
cp "$3"/*.ko lib/modules/
cp "$4/init" init && chmod 755 init
for f in "$4"/*.sh; do cp "$f" nimbus/; done
mknod -m 600 dev/console c 5 1
find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet > "$5.part"
mv "$5.part" "$5"`,
    [tmp, BUSYBOX, kernel.modulesDir, GUEST_DIR, out],
  );
  rmSync(tmp, { recursive: true, force: true });
  // Older builds are superseded (a running VM already has its initramfs in memory).
  for (const f of readdirSync(outDir)) if (/^initramfs-.*\.cpio$/.test(f) && join(outDir, f) !== out) rmSync(join(outDir, f));
  return out;
}
