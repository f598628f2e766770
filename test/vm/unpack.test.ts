/**
 * OCI layers are unpacked inside a chroot of the root being built (agent/images/unpack.ts), so a
 * hostile layer cannot write outside it: a symlink planted by a lower layer resolves inside the
 * root (the write lands there, under the link's target, or fails the layer when that target is not
 * in the root), and absolute and `..` member names land under the root. Each case also checks that
 * the legitimate content landed, so a layer failing for any other reason fails the test. Needs root
 * (chroot), like image builds.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { applyLayers, type LayerFile } from "../../agent/images/unpack.ts";
import { isAppError } from "../../src/core/errors.ts";

const dir = mkdtempSync(join(tmpdir(), "nimbus-unpack-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function sh(script: string): Promise<void> {
  const p = Bun.spawn(["sh", "-ec", script], { stderr: "inherit" });
  if ((await p.exited) !== 0) throw new Error(script);
}

/** A layer directory with `files` (path → content) written into it. */
function layerDir(name: string, files: Record<string, string>): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(d, path)), { recursive: true });
    writeFileSync(join(d, path), content);
  }
  return d;
}

const tar = (path: string): LayerFile => ({ path, mediaType: "application/vnd.oci.image.layer.v1.tar" });

function newRoot(name: string): string {
  const root = join(dir, name);
  mkdirSync(root, { recursive: true });
  return root;
}

test("a symlink planted by a lower layer resolves inside the root: the upper layer's write lands under the root, not on the host", async () => {
  const outside = join(dir, "outside-1");
  mkdirSync(outside);
  const lower = layerDir("s1", { "etc/lower": "lower\n" });
  symlinkSync(outside, join(lower, "escape")); // an absolute link to a host directory
  const upper = layerDir("s2", { "escape/pwned": "x", "etc/upper": "upper\n" });
  await sh(`tar -C ${lower} -cf ${lower}.tar . && tar -C ${upper} -cf ${upper}.tar ./etc ./escape/pwned`);
  // The link's target, as the root sees it, exists (a lower layer may well ship it).
  const root = newRoot("root-symlink");
  mkdirSync(join(root, outside), { recursive: true });

  await applyLayers(root, [tar(`${lower}.tar`), tar(`${upper}.tar`)]);

  expect(existsSync(join(outside, "pwned"))).toBe(false);
  expect(readFileSync(join(root, outside, "pwned"), "utf8")).toBe("x");
  expect(readFileSync(join(root, "etc/lower"), "utf8")).toBe("lower\n");
  expect(readFileSync(join(root, "etc/upper"), "utf8")).toBe("upper\n");
});

test("a write through a planted symlink whose target is not in the root fails the layer, after the layer's earlier members landed", async () => {
  const outside = join(dir, "outside-2");
  mkdirSync(outside);
  const lower = layerDir("t1", { "etc/lower": "lower\n" });
  symlinkSync(outside, join(lower, "escape"));
  const upper = layerDir("t2", { "escape/pwned": "x", "etc/upper": "upper\n" });
  // etc/ first: its files landing proves the layer was being extracted when the write was refused.
  await sh(`tar -C ${lower} -cf ${lower}.tar . && tar -C ${upper} -cf ${upper}.tar ./etc ./escape/pwned`);
  const root = newRoot("root-dangling");

  const err = await applyLayers(root, [tar(`${lower}.tar`), tar(`${upper}.tar`)]).then(() => null, (e: unknown) => e);

  expect(isAppError(err, "internal")).toBe(true);
  expect(readFileSync(join(root, "etc/upper"), "utf8")).toBe("upper\n");
  expect(readFileSync(join(root, "etc/lower"), "utf8")).toBe("lower\n");
  expect(existsSync(join(outside, "pwned"))).toBe(false);
  expect(existsSync(join(root, outside, "pwned"))).toBe(false);
});

test("absolute and .. member names land under the root", async () => {
  const outside = join(dir, "outside-3");
  mkdirSync(outside);
  const layer = layerDir("a1", { "etc/legit": "legit\n", "dotdot": "y" });
  writeFileSync(join(outside, "placed"), "x");
  await sh(`tar -C ${layer} -cf ${layer}.tar ./etc && tar -rPf ${layer}.tar ${outside}/placed && rm ${outside}/placed
tar -C ${layer} -rf ${layer}.tar --transform='s,^,etc/../../../,' -P dotdot`);
  const root = newRoot("nested/root-names");

  await applyLayers(root, [tar(`${layer}.tar`)]);

  expect(existsSync(join(outside, "placed"))).toBe(false);
  expect(readFileSync(join(root, outside, "placed"), "utf8")).toBe("x");
  expect(existsSync(join(dir, "dotdot"))).toBe(false);
  expect(existsSync(join(dir, "nested", "dotdot"))).toBe(false);
  expect(readFileSync(join(root, "dotdot"), "utf8")).toBe("y");
  expect(readFileSync(join(root, "etc/legit"), "utf8")).toBe("legit\n");
});
