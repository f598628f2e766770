/**
 * Kernel modules baked into a Debian image for the guest kernel (the VM assets' kernel, Debian's
 * cloud kernel, which builds overlay, bridge, br_netfilter, veth and nf_tables as modules). The
 * modules come from the same kernel package the assets were unpacked from; the image's own
 * kmod (`depmod`, `modprobe --show-depends`, chrooted) resolves their dependencies, only that
 * closure is kept, and `/etc/nimbus/modules` lists the .ko files in load order for the guest init
 * (agent/guest/devices.sh `load_image_modules`: busybox insmod, no modprobe needed at boot).
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../../src/core/errors.ts";
import { sh } from "./build.ts";

export interface GuestKernel {
  version: string;
  /** The kernel package (.deb) the VM assets were unpacked from. */
  deb: string;
}

/** The .deb of the assets' kernel in `<assetsDir>/cache`, or a clear error naming the command that fetches it. */
export function kernelDebIn(assetsDir: string, version: string): string {
  const cache = join(assetsDir, "cache");
  const deb = existsSync(cache) ? readdirSync(cache).find((f) => f.startsWith(`linux-image-${version}_`) && f.endsWith(".deb")) : undefined;
  if (!deb) throw new AppError("unavailable", `the guest kernel's package (linux-image-${version}) is not in ${cache}: run \`bun run scripts/vm/build-assets.ts\``, { version });
  return join(cache, deb);
}

/** Installs the closure of `modules` for `kernel` into ROOT and writes ROOT/etc/nimbus/modules. Returns the load order. */
export async function bakeModules(root: string, work: string, kernel: GuestKernel, modules: string[]): Promise<string[]> {
  if (!modules.length) return [];
  // The image's depmod is a link to /bin/kmod: look for kmod itself (an absolute link does not resolve from the host).
  if (!existsSync(join(root, "usr/bin/kmod")) && !existsSync(join(root, "bin/kmod")))
    throw new AppError("validation_failed", "the recipe lists kernel modules but its image has no kmod (add kmod to its packages)");
  const unpacked = join(work, "kernel-deb");
  rmSync(unpacked, { recursive: true, force: true });
  mkdirSync(unpacked, { recursive: true });
  const kdir = `lib/modules/${kernel.version}`;
  await sh('dpkg-deb -x "$1" "$2" && mkdir -p "$3/lib/modules" && rm -rf "$3/$4" && cp -a "$2/$4" "$3/$4"', [kernel.deb, unpacked, root, kdir]);
  rmSync(unpacked, { recursive: true, force: true });
  await sh('chroot "$1" depmod "$2"', [root, kernel.version]);
  const order: string[] = [];
  for (const m of modules) {
    let out: string;
    try {
      out = await sh('chroot "$1" modprobe -S "$2" --show-depends "$3"', [root, kernel.version, m]);
    } catch {
      throw new AppError("validation_failed", `kernel module ${m} does not exist in kernel ${kernel.version}`, { field: "modules", module: m });
    }
    for (const line of out.split("\n")) {
      const ko = /^insmod (\S+\.ko)/.exec(line.trim())?.[1];
      if (ko && !order.includes(ko)) order.push(ko);
    }
  }
  // Keep only the closure (the full tree is ~90 MB), then index it again for the image's own modprobe.
  await sh('cd "$1/$2" && find kernel -name "*.ko" > "$3.all"', [root, kdir, join(work, "modules")]);
  const keep = new Set(order.map((p) => p.replace(`/${kdir}/`, "")));
  const all = (await Bun.file(join(work, "modules.all")).text()).split("\n").filter(Boolean);
  for (const f of all) if (!keep.has(f)) rmSync(join(root, kdir, f));
  await sh('cd "$1/$2" && find kernel -type d -empty -delete; chroot "$1" depmod "$3"', [root, kdir, kernel.version]);
  mkdirSync(join(root, "etc/nimbus"), { recursive: true });
  writeFileSync(join(root, "etc/nimbus/modules"), order.map((p) => p.replace(/^\//, "")).join("\n") + "\n");
  return order;
}
