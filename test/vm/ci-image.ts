/**
 * The `ci` image for VM tests, built once per inputs digest into a cache directory kept between
 * runs ($NIMBUS_TEST_CI_IMAGE_DIR, default <tmpdir>/nimbus-ci-image-cache): the recipe of
 * scripts/images (its packages, setup script and kernel modules) with a runner-shaped tarball baked in (made
 * deterministically, so the same inputs give the same digest). A cold build takes minutes
 * (mmdebstrap from the Debian archive apt uses); a cache hit costs hashing.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildDebianImage, type DebianBuilt } from "../../agent/images/debian-recipe.ts";
import { kernelDebIn } from "../../agent/images/kernel-modules.ts";
import { ImageStore } from "../../agent/images/store.ts";
import { loadVersions } from "../../agent/images/versions.ts";
import { ensureVmAssets } from "../../scripts/vm/build-assets.ts";

export const RECIPES = resolve(import.meta.dir, "../../scripts/images");
export const CI_IMAGE_CACHE = process.env.NIMBUS_TEST_CI_IMAGE_DIR || join(tmpdir(), "nimbus-ci-image-cache");
/** The kernel modules of the real recipe (scripts/images/images.yaml): what dockerd needs. */
export const CI_MODULES = `[${loadVersions(join(RECIPES, "images.yaml")).get("ci")!.debian!.modules.join(", ")}]`;

export async function sh(script: string): Promise<void> {
  const p = Bun.spawn(["sh", "-ec", script], { stderr: "inherit" });
  if ((await p.exited) !== 0) throw new Error(script);
}

/** A gzip tar in the runner release's shape, made deterministically (same bytes every run: same inputs digest). */
export async function runnerTarball(dir: string, out: string, files: Record<string, string>): Promise<string> {
  const src = join(dir, `src-${Object.keys(files).length}-${out.replace(/\W/g, "")}`);
  for (const [name, body] of Object.entries(files)) {
    mkdirSync(join(src, name, ".."), { recursive: true });
    writeFileSync(join(src, name), body, { mode: 0o755 });
  }
  await sh(`cd ${src} && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - . | gzip -n > ${out}`);
  return out;
}

/** The guest kernel the VM assets were built with (its modules go into the image). */
export async function guestKernel(): Promise<{ version: string; deb: string }> {
  const manifest = await ensureVmAssets();
  return { version: manifest.kernelVersion, deb: kernelDebIn(resolve(import.meta.dir, "../../artifacts/vm"), manifest.kernelVersion) };
}

/**
 * Builds (or finds) the test's ci image in `store` (default: the cache directory); `dir` is a
 * scratch directory for the runner tarball and the recipe file.
 */
export async function ciImage(dir: string, opts: { store?: ImageStore; onProgress?: (line: string) => void } = {}): Promise<DebianBuilt & { path: string }> {
  const runner = await runnerTarball(dir, join(dir, "runner.tar.gz"), {
    "config.sh": "#!/bin/sh\necho runner-config\n",
    "bin/Runner.Listener": "#!/bin/sh\necho runner-listener-baked\n",
  });
  const file = join(dir, "ci.yaml");
  writeFileSync(file, `versions:
  ci:
    debian:
      packages_file: ${RECIPES}/ci-packages.txt
      setup_script: ${RECIPES}/ci-setup.sh
      modules: ${CI_MODULES}
    runner_tarball: ${runner}
`);
  const store = opts.store ?? new ImageStore(CI_IMAGE_CACHE);
  const built = await buildDebianImage(loadVersions(file).get("ci")!, store, { kernel: await guestKernel(), onProgress: opts.onProgress });
  return { ...built, path: await store.verify(built.digest) };
}
