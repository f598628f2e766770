/**
 * The warm pool's policy, with a factory whose VMs are plain promises (the qemu factory is tested
 * with real VMs in warm-qemu.test.ts): fill to the minimum, a take that hands over an idle VM at
 * once with a replacement behind it, demand grows the pool up to its maximum, a schedule raises
 * the minimum for busy hours and the pool shrinks after, stale shapes are replaced, failures back off, stop destroys what it holds.
 */
import { expect, test } from "bun:test";
import { parseWarmClasses, parseWarmSchedule, scheduledMin } from "../../src/agents/warm-schedule.ts";
import { WarmPool, type WarmFactory, type WarmVm } from "../../agent/pool/warm.ts";
import { isAppError } from "../../src/core/errors.ts";

class FakeFactory implements WarmFactory<WarmVm & { end: () => void }> {
  key = "k1";
  created: string[] = [];
  destroyed: string[] = [];
  vms = new Map<string, { end: () => void }>();
  failNext = 0;
  async keyFor(): Promise<string> {
    return this.key;
  }
  async create(_cls: string, name: string) {
    await Bun.sleep(5);
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error("boot failed");
    }
    this.created.push(name);
    let end!: () => void;
    const exited = new Promise<void>((r) => (end = r));
    this.vms.set(name, { end });
    return { name, key: this.key, exited, end };
  }
  async destroy(vm: WarmVm & { end: () => void }) {
    this.destroyed.push(vm.name);
    vm.end();
  }
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await Bun.sleep(5);
  }
}

test("fills to the minimum; a take hands over an idle VM at once (synchronously, creating none) and a replacement starts behind it; demand grows the pool to its maximum", async () => {
  const f = new FakeFactory();
  const pool = new WarmPool(f, { classes: parseWarmClasses("2c4g=1..2"), tickMs: 60_000 });
  pool.start();
  await until(() => pool.stats()[0]!.idle === 1);
  const [idle] = f.created;
  const vm = pool.take("k1")!; // not a promise: nothing is awaited; the replacement comes later
  expect(vm.name).toBe(idle!);
  expect(f.created).toEqual([idle!]);
  expect(vm.name).toStartWith("nimbus-warm-");
  expect(pool.owns(vm.name)).toBe(false); // it belongs to its job now
  expect(pool.take("other-shape")).toBeUndefined();
  // one take in the demand window: the target is still 1 (min 1, 1 recent take); a second take lifts it to 2 = max
  await until(() => pool.stats()[0]!.idle === 1);
  pool.take("k1");
  await until(() => pool.stats()[0]!.idle === 2);
  pool.take("k1");
  pool.take("k1");
  await until(() => pool.stats()[0]!.idle === 2);
  expect(pool.stats()[0]!.target).toBe(2);
  expect(f.created.length).toBe(6);
  await pool.stop();
  expect(f.destroyed.length).toBe(2);
  expect(pool.stats()[0]!.idle).toBe(0);
});

test("a schedule raises the minimum in its window (capped by the maximum); after it, the pool shrinks", async () => {
  const f = new FakeFactory();
  let now = new Date(2026, 10, 23, 7, 59); // a Monday, local time
  const pool = new WarmPool(f, { classes: parseWarmClasses("2c4g=0..3"), schedule: parseWarmSchedule("2c4g mon-fri 08:00-18:00 min=5"), tickMs: 60_000, now: () => now });
  pool.start();
  await pool.settled();
  expect(pool.stats()[0]!.idle).toBe(0);
  now = new Date(2026, 10, 23, 8, 0);
  await pool.tick();
  await until(() => pool.stats()[0]!.idle === 3);
  expect(pool.stats()[0]!.target).toBe(3);
  now = new Date(2026, 10, 23, 18, 0);
  await pool.tick();
  expect(pool.stats()[0]!.idle).toBe(0);
  expect(f.destroyed.length).toBe(3);
  await pool.stop();
});

test("idle VMs of a stale shape are replaced; a VM that dies idle is replaced; failures back off", async () => {
  const f = new FakeFactory();
  const pool = new WarmPool(f, { classes: parseWarmClasses("2c4g=1..1"), tickMs: 60_000 });
  pool.start();
  await until(() => pool.stats()[0]!.idle === 1);
  f.key = "k2"; // e.g. a new rootfs was activated
  await pool.tick();
  await until(() => pool.stats()[0]!.idle === 1 && f.created.length === 2);
  expect(pool.take("k1")).toBeUndefined();
  const [dead] = f.created.slice(-1);
  f.failNext = 2;
  const vm = pool.take("k2")!;
  expect(vm.name).toBe(dead!);
  await until(() => pool.stats()[0]!.failures === 1);
  const t0 = Date.now();
  await until(() => pool.stats()[0]!.idle === 1, 10_000); // retried after 1 s, then 2 s (with jitter)
  expect(Date.now() - t0).toBeGreaterThan(2000);
  expect(pool.stats()[0]!.failures).toBe(0);
  const idle = f.created.at(-1)!;
  f.vms.get(idle)!.end(); // the VM ends on its own while idle
  await until(() => f.created.length === 4 && pool.stats()[0]!.idle === 1);
  expect(f.destroyed).toContain(idle);
  expect(pool.owns(idle)).toBe(false);
  await pool.stop();
});

test("pool settings: CLASS=MIN..MAX and CLASS DAYS HH:MM-HH:MM min=N, errors name the entry", () => {
  expect(parseWarmClasses("2c4g=1..3, 4c16g=0..1")).toEqual([{ sizeClass: "2c4g", min: 1, max: 3 }, { sizeClass: "4c16g", min: 0, max: 1 }]);
  for (const bad of ["2c4g=3..1", "2c4g=1", "9c9g=0..1", "2c4g=0..1,2c4g=1..1"]) {
    const err = (() => {
      try {
        parseWarmClasses(bad);
      } catch (e) {
        return e;
      }
    })();
    expect(isAppError(err, "validation_failed")).toBe(true);
  }
  expect(() => parseWarmSchedule("2c4g someday 08:00-18:00 min=2")).toThrow('"2c4g someday 08:00-18:00 min=2"');
  const [night] = parseWarmSchedule("2c4g fri 22:00-06:00 min=2");
  const cls = { sizeClass: "2c4g", min: 0, max: 4 };
  expect(scheduledMin(cls, [night!], new Date(2026, 10, 27, 23, 0))).toBe(2); // Friday night
  expect(scheduledMin(cls, [night!], new Date(2026, 10, 28, 5, 59))).toBe(2); // Saturday early, same window
  expect(scheduledMin(cls, [night!], new Date(2026, 10, 28, 6, 0))).toBe(0);
  expect(scheduledMin(cls, [night!], new Date(2026, 10, 26, 23, 0))).toBe(0); // Thursday
  expect(parseWarmSchedule("4c16g sat,sun 00:00-24:00 min=1")[0]!.days).toEqual([0, 6]);
});
