import { describe, expect, test } from "bun:test";
import { hasBaseLabel, parseLabels, poolOf, poolsFor } from "../../src/jobs/labels.ts";
import { isAppError } from "../../src/core/errors.ts";

describe("labels", () => {
  test("defaults: sandbox, x64, smallest size", () => {
    const r = parseLabels(["nimbus"]);
    expect(r).toMatchObject({ isolation: "sandbox", arch: "x64", docker: false, gpus: 0 });
    expect(r.size.name).toBe("2c4g");
    expect(poolOf(r)).toBe("x64.sandbox.2c4g");
  });

  test("size rounds up to a size class; docker/gpu/image imply a VM", () => {
    const r = parseLabels(["self-hosted", "nimbus", "nimbus-3vcpu-8gb", "docker", "gpu-count:2"]);
    expect(r.size.name).toBe("4c16g");
    expect(r.isolation).toBe("vm");
    expect(poolOf(r)).toBe("x64.vm.4c16g.gpu2.docker");
    expect(parseLabels(["nimbus", "image:ghcr.io/acme/ci:1.2"]).image).toBe("ghcr.io/acme/ci:1.2");
  });

  test("impossible or unknown labels are errors naming the label", () => {
    const cases = [["nimbus", "nimbus-64vcpu-512gb"], ["nimbus", "wat"], ["nimbus", "docker", "isolation:sandbox"], ["nimbus", "gpu-count:x"]];
    for (const labels of cases) {
      let err: unknown;
      try {
        parseLabels(labels);
      } catch (e) {
        err = e;
      }
      expect(isAppError(err, "validation_failed")).toBe(true);
    }
    expect(() => parseLabels(["nimbus", "wat"])).toThrow('label "wat"');
  });

  test("base label detection", () => {
    expect(hasBaseLabel(["ubuntu-latest"])).toBe(false);
    expect(hasBaseLabel(["nimbus-4vcpu-16gb"])).toBe(true);
  });

  test("an agent serves exactly the pools its capacity fits", () => {
    const pools = poolsFor({ arch: "x64", isolations: ["sandbox"], vcpus: 4, memoryGb: 16, gpus: 0, docker: false });
    expect(pools).toEqual(["x64.sandbox.2c4g", "x64.sandbox.4c16g"]);
    const job = poolOf(parseLabels(["nimbus", "nimbus-4vcpu-16gb"]));
    expect(pools).toContain(job);
    expect(pools).not.toContain(poolOf(parseLabels(["nimbus", "nimbus-8vcpu-32gb"])));
  });
});
