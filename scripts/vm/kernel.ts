/**
 * The guest kernel: Debian's cloud kernel (linux-image-cloud-amd64), fetched with `apt-get
 * download` and unpacked with `dpkg-deb`. We keep the bzImage (QEMU), an uncompressed vmlinux when it
 * can be extracted (Firecracker needs ELF), and the virtio modules the initramfs loads.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { run, sh } from "./run.ts";

export const GUEST_MODULES = ["virtio", "virtio_ring", "virtio_mmio", "virtio_blk", "virtio_console", "failover", "net_failover", "virtio_net", "overlay", "virtio-rng"];

export interface KernelAssets {
  version: string;
  vmlinuz: string;
  vmlinux?: string;
  modulesDir: string;
}

/** The versioned kernel package the metapackage depends on, e.g. linux-image-6.1.0-56-cloud-amd64. */
async function resolvePackage(meta: string): Promise<string> {
  const out = await run(["apt-cache", "depends", meta]);
  const m = /Depends: (linux-image-[^\s]+)/.exec(out);
  if (!m) throw new Error(`cannot resolve ${meta} to a kernel package (is apt's package list up to date?)`);
  return m[1]!;
}

async function download(pkg: string, cacheDir: string): Promise<string> {
  mkdirSync(cacheDir, { recursive: true });
  const have = readdirSync(cacheDir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith(".deb"));
  if (have) return join(cacheDir, have);
  await run(["apt-get", "download", "-q", pkg], { cwd: cacheDir });
  const got = readdirSync(cacheDir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith(".deb"));
  if (!got) throw new Error(`apt-get download ${pkg} produced no .deb`);
  return join(cacheDir, got);
}

/** Unpacks vmlinuz and the guest modules into OUT/kernel-VERSION; skips work already done. */
export async function ensureKernel(outDir: string, meta = "linux-image-cloud-amd64"): Promise<KernelAssets> {
  const pkg = await resolveCached(outDir, meta);
  const version = pkg.replace(/^linux-image-/, "");
  const dir = join(outDir, `kernel-${version}`);
  const assets: KernelAssets = { version, vmlinuz: join(dir, "vmlinuz"), modulesDir: join(dir, "modules") };
  if (!existsSync(join(dir, ".done"))) {
    const deb = await download(pkg, join(outDir, "cache"));
    const tmp = `${dir}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(join(tmp, "pkg"), { recursive: true });
    await run(["dpkg-deb", "-x", deb, join(tmp, "pkg")]);
    mkdirSync(join(tmp, "modules"), { recursive: true });
    await sh('cp "$1/boot/vmlinuz-$2" "$3/vmlinuz" && cp "$1/boot/config-$2" "$3/config"', [join(tmp, "pkg"), version, tmp]);
    for (const m of GUEST_MODULES)
      await sh('f=$(find "$1/lib/modules" -name "$2.ko" | head -n1) && [ -n "$f" ] && cp "$f" "$3/"', [join(tmp, "pkg"), m, join(tmp, "modules")]);
    rmSync(join(tmp, "pkg"), { recursive: true, force: true });
    await extractVmlinux(join(tmp, "vmlinuz"), join(tmp, "vmlinux"));
    await Bun.write(join(tmp, ".done"), version + "\n");
    rmSync(dir, { recursive: true, force: true });
    await run(["mv", tmp, dir]);
  }
  if (existsSync(join(dir, "vmlinux"))) assets.vmlinux = join(dir, "vmlinux");
  return assets;
}

/** Prefer a kernel already unpacked (works offline); otherwise ask apt which one is current. */
async function resolveCached(outDir: string, meta: string): Promise<string> {
  const have = existsSync(outDir) ? readdirSync(outDir).filter((d) => d.startsWith("kernel-") && existsSync(join(outDir, d, ".done"))) : [];
  if (have.length > 0) return `linux-image-${have.sort().at(-1)!.slice("kernel-".length)}`;
  return resolvePackage(meta);
}

const PAYLOADS: [Buffer, string[]][] = [
  [Buffer.from([0x02, 0x21, 0x4c, 0x18]), ["lz4", "-dc"]],
  [Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), ["zstd", "-dc"]],
  [Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), ["xz", "-dc"]],
  [Buffer.from([0x1f, 0x8b, 0x08]), ["gzip", "-dc"]],
];

/** Like the kernel's scripts/extract-vmlinux: find the compressed payload and inflate it. Optional. */
async function extractVmlinux(vmlinuz: string, out: string): Promise<void> {
  const data = Buffer.from(await Bun.file(vmlinuz).arrayBuffer());
  for (const [magic, cmd] of PAYLOADS) {
    if (!Bun.which(cmd[0]!)) continue;
    for (let at = data.indexOf(magic); at >= 0; at = data.indexOf(magic, at + 1)) {
      const proc = Bun.spawn(cmd, { stdin: data.subarray(at), stdout: "pipe", stderr: "ignore" });
      const elf = Buffer.from(await new Response(proc.stdout).arrayBuffer());
      await proc.exited;
      if (elf.length > 1 << 20 && elf.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) return void (await Bun.write(out, elf));
    }
  }
}
