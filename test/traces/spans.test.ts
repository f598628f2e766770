/** The pure parts of tracing: traceparent, the OTLP settings, and a job's record turned into spans. */
import { describe, expect, test } from "bun:test";
import { headers } from "@nats-io/transport-node";
import { childTraceparent, formatTraceparent, newJobTrace, parseTraceparent } from "../../src/core/trace/traceparent.ts";
import { otelSettings, parseOtlpHeaders } from "../../src/core/trace/settings.ts";
import { tracesUrl, startTracing } from "../../src/core/trace/tracer.ts";
import { ConfigError, loadConfig } from "../../src/core/config/load.ts";
import { attemptSpanId, attemptSpans, jobSpans, lostAttemptSpans } from "../../src/jobs/trace/spans.ts";
import { traceHeaders, traceparentOf } from "../../src/nats/trace-headers.ts";
import type { JobRecord } from "../../src/jobs/record.ts";

const T = "4bf92f3577b34da6a3ce929d0e0e4736";
const S = "00f067aa0ba902b7";

describe("traceparent", () => {
  test("round trips, keeps the sampled flag, and refuses anything malformed", () => {
    expect(parseTraceparent(`00-${T}-${S}-01`)).toEqual({ traceId: T, spanId: S, sampled: true });
    expect(parseTraceparent(`00-${T}-${S}-00`)!.sampled).toBe(false);
    expect(formatTraceparent({ traceId: T, spanId: S, sampled: true })).toBe(`00-${T}-${S}-01`);
    expect(childTraceparent({ traceId: T, spanId: S, sampled: false }, "1111111111111111")).toBe(`00-${T}-1111111111111111-00`);
    for (const bad of [
      "", "garbage", `01-${T}-${S}-01`, `00-${T.toUpperCase()}-${S}-01`, `00-${"0".repeat(32)}-${S}-01`, `00-${T}-${"0".repeat(16)}-01`,
      `00-${T}-${S}-1`, `00-${T}x-${S}-01`, `00-${T}-${S}-01-extra`, `00-${T}-${S}-01\r\nx: y`, 42, null, undefined, { traceparent: "x" },
    ]) expect(parseTraceparent(bad)).toBeNull();
  });

  test("a new job's sampling is decided once, by the ratio", () => {
    expect(parseTraceparent(newJobTrace(1).traceparent)!.sampled).toBe(true);
    expect(parseTraceparent(newJobTrace(0).traceparent)!.sampled).toBe(false);
    expect(parseTraceparent(newJobTrace(0.5, () => 0.49).traceparent)!.sampled).toBe(true);
    expect(parseTraceparent(newJobTrace(0.5, () => 0.5).traceparent)!.sampled).toBe(false);
    const ids = new Set(Array.from({ length: 100 }, () => parseTraceparent(newJobTrace(1).traceparent)!.traceId));
    expect(ids.size).toBe(100);
  });

  test("in NATS headers: set, read back, and a forged or malformed header is ignored", () => {
    expect(traceparentOf(traceHeaders(`00-${T}-${S}-01`))).toBe(`00-${T}-${S}-01`);
    const h = headers();
    h.set("traceparent", "00-not-a-trace-01");
    expect(traceparentOf(h)).toBeUndefined();
    expect(traceparentOf(headers())).toBeUndefined();
    expect(traceparentOf(undefined)).toBeUndefined();
  });
});

describe("settings", () => {
  const load = (env: Record<string, string>) => loadConfig(otelSettings, env);

  test("defaults: tracing off, every job sampled once it is on", () => {
    expect(load({})).toEqual({ otelEndpoint: "", otelHeaders: {}, otelSamplerRatio: 1 });
    expect(startTracing(load({}), "test").enabled).toBe(false);
    expect(startTracing(load({}), "test").newJobTrace()).toBeUndefined();
  });

  test("headers: NAME=VALUE pairs, values percent-decoded, spaces around entries trimmed", () => {
    expect(load({ NIMBUS_OTEL_EXPORTER_HEADERS: "Authorization=Bearer x, foo=bar,x-a=b%3Dc%2Cd" }).otelHeaders).toEqual({ Authorization: "Bearer x", foo: "bar", "x-a": "b=c,d" });
    expect(parseOtlpHeaders("")).toEqual({});
  });

  test("malformed headers fail the config naming the key, never quoting the value", () => {
    for (const [bad, why] of [
      ["Authorization Bearer hunter2-otel", "entry 1 is not NAME=VALUE"],
      ["a=b,=hunter2-otel", "entry 2 is not NAME=VALUE"],
      ["a=b,,c=d", "entry 2 is not NAME=VALUE"],
      ["bad name=hunter2-otel", "entry 1 has a name that is not an HTTP header name"],
      ["x-key=hunter2-otel%ZZ", "the value of header x-key is not valid percent-encoding"],
      ["x-key=hunter2-otel%0D%0AInjected: 1", "the value of header x-key holds a line break or NUL"],
    ] as const) {
      let err: unknown;
      try {
        load({ NIMBUS_OTEL_EXPORTER_HEADERS: bad });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toContain(`NIMBUS_OTEL_EXPORTER_HEADERS: must be NAME=VALUE pairs separated by commas: ${why}`);
      expect((err as Error).message).not.toContain("hunter2");
    }
  });

  test("the endpoint is an http(s) URL; traces go to <endpoint>/v1/traces; the ratio is 0..1", () => {
    expect(() => load({ NIMBUS_OTEL_EXPORTER_ENDPOINT: "ftp://x" })).toThrow("NIMBUS_OTEL_EXPORTER_ENDPOINT: must be a http or https URL");
    expect(tracesUrl("http://c:4318")).toBe("http://c:4318/v1/traces");
    expect(tracesUrl("http://c:4318/otlp/")).toBe("http://c:4318/otlp/v1/traces");
    expect(tracesUrl("http://c:4318/v1/traces")).toBe("http://c:4318/v1/traces");
    expect(load({ NIMBUS_OTEL_SAMPLER_RATIO: "0.25" }).otelSamplerRatio).toBe(0.25);
    expect(load({ NIMBUS_OTEL_SAMPLER_RATIO: "0" }).otelSamplerRatio).toBe(0);
    for (const bad of ["1.5", "-0.1", "half", "", "NaN", "1e-3"]) expect(() => load({ NIMBUS_OTEL_SAMPLER_RATIO: bad })).toThrow("NIMBUS_OTEL_SAMPLER_RATIO");
  });
});

const base = (over: Partial<JobRecord> = {}): JobRecord => ({
  id: "j-1", source: "direct", org: "acme", command: ["true"], env: { SECRETISH: "env-value" }, secrets: ["TOKEN"], labels: ["nimbus"],
  requirements: {} as JobRecord["requirements"], pool: "x64-sandbox-small", timeoutSeconds: 60, state: "succeeded", attempt: 1, maxAttempts: 3,
  createdAt: 1000, updatedAt: 1600, exitCode: 0, agentId: "a-1",
  times: { queued: 1000, leased: 1100, booting: 1150, running: 1300, succeeded: 1600 }, ...over,
});

describe("a job's record as spans", () => {
  test("the control plane's part: the job span with the traceparent's id, a queue wait only for an attempt that never left the queue", () => {
    expect(jobSpans(base({ state: "running" }), S)).toEqual([]); // not ended yet
    const [job, ...rest] = jobSpans(base(), S);
    expect(job).toMatchObject({ name: "job", parent: null, spanId: S, start: 1000, end: 1600, attributes: { "nimbus.job.outcome": "succeeded", "nimbus.job.attempts": 1 } });
    expect(rest).toEqual([]);
    const cancelled = jobSpans(base({ state: "cancelled", times: { queued: 1000, cancelled: 1400 } }), S);
    expect(cancelled.map((s) => [s.name, s.parent, s.start, s.end])).toEqual([["job", null, 1000, 1400], ["queue", "root", 1000, 1400]]);
    // A retry that ended in the queue: the first attempt's stamps are older than its queueing.
    const retried = jobSpans(base({ state: "cancelled", attempt: 2, times: { queued: 2000, leased: 1100, running: 1300, cancelled: 2500 } }), S);
    expect(retried.map((s) => s.name)).toEqual(["job", "queue"]);
  });

  test("a GitHub job starts when GitHub created it and has its receipt", () => {
    const gh = base({ source: "github", createdAt: 1000, github: { createdAt: 400, receivedAt: 900, via: "poll" } as JobRecord["github"] });
    const spans = jobSpans(gh, S);
    expect(spans.map((s) => [s.name, s.start, s.end])).toEqual([["job", 400, 1600], ["webhook", 400, 900]]);
    expect(spans[1]!.attributes["nimbus.github.via"]).toBe("poll");
    // GitHub's clock ahead of ours: the receipt is a point, never negative.
    const ahead = jobSpans(base({ source: "github", github: { createdAt: 5000, receivedAt: 900, via: "webhook" } as JobRecord["github"] }), S);
    expect(ahead[1]).toMatchObject({ start: 900, end: 900 });
  });

  const local = { agentId: "a-1", takenAt: 1090, teardownStart: 1610, teardownEnd: 1700, attemptSpanId: "aaaaaaaaaaaaaaaa", runSpanId: "bbbbbbbbbbbbbbbb" };

  test("the agent's part of a direct job: attempt, queue, lease, boot, run, teardown", () => {
    const spans = attemptSpans(base(), local);
    expect(spans.map((s) => [s.name, s.parent, s.start, s.end])).toEqual([
      ["attempt", "root", 1090, 1700], ["queue", "root", 1000, 1090], ["lease", "attempt", 1090, 1100], ["boot", "attempt", 1150, 1300],
      ["run", "attempt", 1300, 1600], ["teardown", "attempt", 1610, 1700],
    ]);
    expect(spans[0]!.spanId).toBe(local.attemptSpanId);
    expect(spans.find((s) => s.name === "run")).toMatchObject({ spanId: local.runSpanId, attributes: { "nimbus.job.outcome": "succeeded", "nimbus.job.exit_code": 0, "nimbus.agent.id": "a-1" } });
    expect(JSON.stringify(spans)).not.toContain("env-value");
  });

  test("while the attempt runs: only its finished steps; the sweeper's attempt span for an agent gone", () => {
    const running = base({ state: "running", times: { queued: 1000, leased: 1100, booting: 1150, running: 1300 } });
    const { teardownStart: _s, teardownEnd: _e, ...live } = local;
    expect(attemptSpans(running, live).map((s) => s.name)).toEqual(["queue", "lease", "boot"]);
    const withTrace = { ...running, agentId: "a-1", trace: { traceparent: `00-${T}-${S}-01` } };
    const [lostSpan, ...more] = lostAttemptSpans(withTrace, 2000);
    expect(more).toEqual([]);
    expect(lostSpan).toMatchObject({ name: "attempt", parent: "root", spanId: attemptSpanId(T, 1), start: 1100, end: 2000, attributes: { "nimbus.job.outcome": "lost", "nimbus.agent.id": "a-1" } });
    expect(attemptSpanId(T, 1)).not.toBe(attemptSpanId(T, 2));
    expect(lostAttemptSpans(running, 2000)).toEqual([]); // no trace
  });

  test("a GitHub attempt splits boot, registration and assignment; a lost lease ends the run at teardown", () => {
    const gh = base({ source: "github", times: { queued: 1000, leased: 1100, booting: 1150, runner_registered: 1250, running: 1400, succeeded: 1600 } });
    const spans = attemptSpans(gh, { ...local, startedAt: 1200 });
    expect(spans.filter((s) => s.parent === "attempt").map((s) => [s.name, s.start, s.end])).toEqual([
      ["lease", 1090, 1100], ["boot", 1150, 1200], ["runner.registration", 1200, 1250], ["assignment", 1250, 1400], ["run", 1400, 1600], ["teardown", 1610, 1700],
    ]);
    const lost = attemptSpans(base({ state: "running", times: { queued: 1000, leased: 1100, booting: 1150, running: 1300 } }), local, true);
    expect(lost.map((s) => s.name)).toEqual(["queue", "lease", "boot", "run", "teardown"]); // the attempt span is the sweeper's
    expect(lost.filter((s) => s.parent === "attempt").every((s) => s.parentSpanId === local.attemptSpanId)).toBe(true);
    expect(lost.find((s) => s.name === "run")).toMatchObject({ start: 1300, end: 1610, attributes: { "nimbus.job.outcome": "lost" } });
    expect(lost.find((s) => s.name === "run")!.attributes["nimbus.job.exit_code"]).toBeUndefined();
    // The driver never started the job: boot runs until the end, and there is no run.
    const failed = attemptSpans(base({ state: "failed", times: { queued: 1000, leased: 1100, booting: 1150, failed: 1200 } }), local);
    expect(failed.map((s) => s.name)).toEqual(["attempt", "queue", "lease", "boot", "teardown"]);
    expect(failed.find((s) => s.name === "boot")).toMatchObject({ start: 1150, end: 1200 });
  });
});
