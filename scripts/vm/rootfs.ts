/**
 * A minimal test rootfs: static busybox with its applets, a passwd with root and the job user
 * (uid 1000), as an ext4 image made with `mkfs.ext4 -d`. Real images come from agent/images.
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { sh, sha256File } from "./run.ts";

export async function ensureTestRootfs(outDir: string): Promise<string> {
  const tag = (await sha256File("/bin/busybox")).slice(0, 12);
  const out = join(outDir, `rootfs-test-${tag}.ext4`);
  if (existsSync(out)) return out;
  const tmp = join(outDir, "rootfs.tmp");
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await sh(
    `set -e
cd "$1"
mkdir -p bin sbin usr/bin usr/sbin etc home/runner root tmp proc sys dev run var/tmp
cp /bin/busybox bin/busybox
for a in $(bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\\nrunner:x:1000:1000:runner:/home/runner:/bin/sh\\n' > etc/passwd
printf 'root:x:0:\\nrunner:x:1000:\\n' > etc/group
echo nimbus-test > etc/nimbus-image
chown 1000:1000 home/runner && chmod 1777 tmp var/tmp
mkfs.ext4 -q -F -L nimbus-root -d . "$2.part" 64M
mv "$2.part" "$2"`,
    [tmp, out],
  );
  rmSync(tmp, { recursive: true, force: true });
  return out;
}
