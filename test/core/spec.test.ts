import { expect, test } from "bun:test";
import { parseJobSpec } from "../../src/jobs/spec.ts";
import { AppError } from "../../src/core/errors.ts";

function fieldOf(body: unknown): string | undefined {
  try {
    parseJobSpec(body);
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).status).toBe(422);
    return (e as AppError).details?.field as string;
  }
  return undefined;
}

test("a minimal spec gets defaults", () => {
  const s = parseJobSpec({ command: ["echo", "hi"] });
  expect(s).toMatchObject({ command: ["echo", "hi"], env: {}, secrets: {}, labels: ["nimbus"], timeoutSeconds: 3600 });
});

test("invalid specs name the field", () => {
  expect(fieldOf({})).toBe("command");
  expect(fieldOf({ command: [] })).toBe("command");
  expect(fieldOf({ command: ["x"], timeoutSeconds: 0 })).toBe("timeoutSeconds");
  expect(fieldOf({ command: ["x"], env: { "1BAD": "v" } })).toBe("env.1BAD");
  expect(fieldOf({ command: ["x"], labels: "nimbus" })).toBe("labels");
  expect(fieldOf({ command: ["x"], extra: 1 })).toBe("extra");
  expect(fieldOf({ command: ["x"], idempotencyKey: "has space" })).toBe("idempotencyKey");
  expect(fieldOf("not an object")).toBe("(body)");
});
