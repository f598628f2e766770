/**
 * The exporter itself (src/core/trace/tracer.ts) against the OTLP receiver of the tests: spans of plans
 * get the ids and parents the plans say; unsampled or malformed contexts export nothing; a handout
 * span is made only under the job's own trace (a forged traceparent names another).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startTracing } from "../../src/core/trace/tracer.ts";
import { newJobTrace, parseTraceparent, formatTraceparent } from "../../src/core/trace/traceparent.ts";
import { traceHandout } from "../../src/control/handout.ts";
import { startOtlpReceiver, type OtlpReceiver } from "../support/otlp-receiver.ts";
import type { JobRecord } from "../../src/jobs/record.ts";

let rx: OtlpReceiver;
beforeAll(() => {
  rx = startOtlpReceiver();
});
afterAll(async () => {
  await rx?.stop();
});

const cfg = () => ({ otelEndpoint: rx.url, otelHeaders: { "x-probe": "1" }, otelSamplerRatio: 1 });

test("plans become spans with the fixed ids, parents and times they name", async () => {
  const tracing = startTracing(cfg(), "test", { scheduledDelayMs: 50 });
  const trace = newJobTrace(1);
  const c = parseTraceparent(trace.traceparent)!;
  const attempt = "a1a1a1a1a1a1a1a1";
  tracing.emit(trace.traceparent, [
    { name: "lease", parent: "attempt", parentSpanId: attempt, start: 1_000_100, end: 1_000_200, attributes: { n: 1 } },
    { name: "job", parent: null, spanId: c.spanId, start: 1_000_000, end: 1_009_000, attributes: { "nimbus.job.id": "j-x" } },
    { name: "attempt", parent: "root", spanId: attempt, start: 1_000_050, end: 1_008_000, attributes: {} },
    { name: "run", parent: "attempt", spanId: "b2b2b2b2b2b2b2b2", start: 1_000_300, end: 1_007_000, attributes: { "nimbus.job.outcome": "succeeded" } },
  ]);
  await tracing.shutdown();
  const got = rx.spans.filter((x) => x.traceId === c.traceId);
  const by = Object.fromEntries(got.map((x) => [x.name, x]));
  expect(got).toHaveLength(4);
  expect(by.job).toMatchObject({ spanId: c.spanId, parentSpanId: "", start: 1_000_000, end: 1_009_000, service: "nimbus-test", attributes: { "nimbus.job.id": "j-x" } });
  expect(by.attempt).toMatchObject({ spanId: attempt, parentSpanId: c.spanId });
  expect(by.lease).toMatchObject({ parentSpanId: attempt, start: 1_000_100, end: 1_000_200, attributes: { n: 1 } });
  expect(by.run).toMatchObject({ spanId: "b2b2b2b2b2b2b2b2", parentSpanId: attempt });
  expect(rx.requests.at(-1)!.headers.get("x-probe")).toBe("1");
});

test("an unsampled, malformed or missing traceparent exports nothing", async () => {
  const before = rx.spans.length;
  const tracing = startTracing(cfg(), "test", { scheduledDelayMs: 50 });
  const plan = [{ name: "run", parent: "root" as const, start: 1, end: 2, attributes: {} }];
  tracing.emit(newJobTrace(0).traceparent, plan);
  tracing.emit("00-zz-zz-01", plan);
  tracing.emit(undefined, plan);
  await tracing.shutdown();
  expect(rx.spans.length).toBe(before);
});

test("the handout's span only under the job's own trace: a forged traceparent gets none", async () => {
  const tracing = startTracing(cfg(), "control", { scheduledDelayMs: 50 });
  const trace = newJobTrace(1);
  const c = parseTraceparent(trace.traceparent)!;
  const job = { id: "j-h", org: "acme", pool: "x64-sandbox-small", source: "direct", agentId: "a-1", trace } as JobRecord;
  const attemptParent = formatTraceparent({ ...c, spanId: "c3c3c3c3c3c3c3c3" });
  const forged = newJobTrace(1).traceparent; // another trace: someone else's, or made up
  traceHandout(tracing, forged, job, 1, Date.now());
  traceHandout(tracing, attemptParent, { ...job, trace: undefined }, 1, Date.now()); // a job without a trace
  traceHandout(tracing, attemptParent, job, 1, Date.now());
  await tracing.shutdown();
  const handouts = rx.spans.filter((x) => x.name === "handout");
  expect(handouts).toHaveLength(1);
  expect(handouts[0]).toMatchObject({ traceId: c.traceId, parentSpanId: "c3c3c3c3c3c3c3c3", attributes: { "nimbus.job.id": "j-h", "nimbus.agent.id": "a-1", "nimbus.job.attempt": 1 } });
});
