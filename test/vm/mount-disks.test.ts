/** Read-only mount images: shared by content, rebuilt on change, older ones dropped once replaced a while ago. */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mountDisks, vmMounts } from "../../agent/guest/host/mount-disks.ts";
import { isAppError } from "../../src/core/errors.ts";

const dir = mkdtempSync(join(tmpdir(), "nimbus-mounts-"));
const cache = join(dir, "cache");
const src = join(dir, "runner");
mkdirSync(src);
writeFileSync(join(src, "run.sh"), "#!/bin/sh\n");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("same content, same image; changed content, a new one; the old one goes once the new one is 10 minutes old", async () => {
  const [a] = await mountDisks(cache, [{ source: src, target: "/runner" }]);
  const [again] = await mountDisks(cache, [{ source: src, target: "/runner" }]);
  expect(again!.image).toBe(a!.image);
  expect(a).toMatchObject({ id: "m0", source: src, target: "/runner" });

  writeFileSync(join(src, "run.sh"), "#!/bin/sh\necho v2\n");
  utimesSync(join(src, "run.sh"), new Date(), new Date(Date.now() + 5000)); // a different mtime for sure
  const [b] = await mountDisks(cache, [{ source: src, target: "/runner" }]);
  expect(b!.image).not.toBe(a!.image);
  await mountDisks(cache, [{ source: src, target: "/runner" }]);
  expect(existsSync(a!.image)).toBe(true); // a VM prepared just before the change may still start with it
  const old = new Date(Date.now() - 11 * 60_000);
  utimesSync(b!.image, old, old);
  await mountDisks(cache, [{ source: src, target: "/runner" }]);
  expect(existsSync(a!.image)).toBe(false);
  expect(existsSync(b!.image)).toBe(true);
});

test("standing mounts come first; a job's other mounts get the next ids and mark the VM as not poolable", async () => {
  const other = join(dir, "other");
  mkdirSync(other);
  const standing = await mountDisks(cache, [{ source: src, target: "/runner" }]);
  expect(await vmMounts(cache, standing, [{ source: src, target: "/runner" }])).toMatchObject({ listed: ["m0"], extra: false });
  expect(await vmMounts(cache, standing, [])).toMatchObject({ listed: [], extra: false, attached: [{ id: "m0" }] });
  const mixed = await vmMounts(cache, standing, [{ source: src, target: "/elsewhere" }, { source: other, target: "/mnt/o" }]);
  expect(mixed.extra).toBe(true);
  expect(mixed.attached.map((d) => `${d.id}:${d.target}`)).toEqual(["m0:/runner", "m1:/elsewhere", "m2:/mnt/o"]);
  expect(mixed.listed).toEqual(["m1", "m2"]);
});

test("bad mounts are refused by name: a missing source, a target the init owns, a relative or parent path", async () => {
  for (const [m, says] of [
    [{ source: join(dir, "nope"), target: "/x" }, "is not a directory"],
    [{ source: src, target: "/etc" }, "must be an absolute path outside"],
    [{ source: src, target: "/proc/x" }, "must be an absolute path outside"],
    [{ source: src, target: "runner" }, "must be an absolute path"],
    [{ source: src, target: "/a/../etc" }, "must be an absolute path"],
  ] as const) {
    const err = await mountDisks(cache, [m]).catch((e: Error) => e);
    expect(isAppError(err, "validation_failed")).toBe(true);
    expect((err as Error).message).toContain(says);
  }
});
