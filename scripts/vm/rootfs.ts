/**
 * A minimal test rootfs: static busybox with its applets, the host's glibc loader and core
 * libraries (so dynamically linked programs run: the GitHub runner mounted at /runner), a passwd
 * with root and the job user (uid 1000), as an ext4 image made with `mkfs.ext4 -d`. Named by the
 * hash of its inputs. Real images come from agent/images.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { sh, sha256File, sha256Text } from "./run.ts";

/** Bump when the layout below changes (the name of the image changes with it). */
const ROOTFS_LAYOUT = "test-rootfs v2: busybox + glibc";

const LIB_DIR = "/lib/x86_64-linux-gnu";
/** glibc's loader and the libraries nearly every dynamically linked program needs. */
const LIBS = ["ld-linux-x86-64.so.2", "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libgcc_s.so.1"];

export async function ensureTestRootfs(outDir: string): Promise<string> {
  const libs = LIBS.map((l) => join(LIB_DIR, l)).filter((p) => existsSync(p));
  const tag = sha256Text([ROOTFS_LAYOUT, ...(await Promise.all(["/bin/busybox", ...libs].map(sha256File)))]).slice(0, 12);
  const out = join(outDir, `rootfs-test-${tag}.ext4`);
  if (existsSync(out)) return out;
  const tmp = join(outDir, "rootfs.tmp");
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await sh(
    `set -e
cd "$1"
OUT=$2
mkdir -p bin sbin usr/bin usr/sbin etc home/runner root tmp proc sys dev run var/tmp
cp /bin/busybox bin/busybox
for a in $(bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\\nrunner:x:1000:1000:runner:/home/runner:/bin/sh\\n' > etc/passwd
printf 'root:x:0:\\nrunner:x:1000:\\n' > etc/group
echo nimbus-test > etc/nimbus-image
chown 1000:1000 home/runner && chmod 1777 tmp var/tmp
mkdir -p lib/x86_64-linux-gnu lib64
shift 2
for l in "$@"; do cp -L "$l" lib/x86_64-linux-gnu/; done
[ -f lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 ] && ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 lib64/ld-linux-x86-64.so.2
mkfs.ext4 -q -F -L nimbus-root -d . "$OUT.part" 80M
mv "$OUT.part" "$OUT"`,
    [tmp, out, ...libs],
  );
  // Older builds are superseded (a running VM keeps the file it opened).
  for (const f of readdirSync(outDir)) if (/^rootfs-test-.*\.ext4$/.test(f) && join(outDir, f) !== out) rmSync(join(outDir, f), { force: true });
  rmSync(tmp, { recursive: true, force: true });
  return out;
}
