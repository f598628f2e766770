/**
 * Export of a process's spans over OTLP/HTTP (protobuf), batched and asynchronous: a slow or
 * unreachable receiver costs a job nothing (spans wait in a bounded queue, an export gives up after a
 * few seconds, a full queue drops spans). Spans are made after the fact from plans (src/core/trace/plan.ts; a
 * job's: src/jobs/trace/spans.ts), with the start and end times the record holds; a span whose id was fixed
 * in advance (the job's root span, the run span a job was handed as TRACEPARENT) gets that id.
 * Off (no endpoint): nothing is set up and every call returns at once.
 */
import { context as otelContext, ROOT_CONTEXT, trace, TraceFlags, type Context } from "@opentelemetry/api";
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, AlwaysOnSampler, RandomIdGenerator, type IdGenerator, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace-base";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import type { SpanPlan } from "./plan.ts";
import { newJobTrace, parseTraceparent, randomSpanId, type JobTrace, type TraceContext } from "./traceparent.ts";
import type { OtelConfig } from "./settings.ts";
import { VERSION } from "../../version.ts";

/** Random ids, unless the next span's id was fixed in advance. */
class FixableIds implements IdGenerator {
  private readonly random = new RandomIdGenerator();
  next: { traceId?: string; spanId?: string } = {};
  generateTraceId(): string {
    const id = this.next.traceId ?? this.random.generateTraceId();
    this.next.traceId = undefined;
    return id;
  }
  generateSpanId(): string {
    const id = this.next.spanId ?? this.random.generateSpanId();
    this.next.spanId = undefined;
    return id;
  }
}

/** Reports failed exports (the receiver refused, timed out, is unreachable): the first, then at most once a minute with a count. */
class ReportingExporter implements SpanExporter {
  private lastReport = 0;
  private failedSince = 0;
  constructor(
    private readonly inner: SpanExporter,
    private readonly report: (msg: string, fields: Record<string, unknown>) => void,
    private readonly everyMs = 60_000,
  ) {}
  export(spans: ReadableSpan[], done: Parameters<SpanExporter["export"]>[1]): void {
    this.inner.export(spans, (result) => {
      // 0 is ExportResultCode.SUCCESS.
      if (result.code !== 0) this.failed(spans.length, result.error);
      done(result);
    });
  }
  private failed(spans: number, error: Error | undefined): void {
    this.failedSince += spans;
    const now = Date.now();
    if (now - this.lastReport < this.everyMs) return;
    this.report("trace export failed; spans dropped (jobs are not affected)", { spans: this.failedSince, error: error?.message ?? "unknown" });
    this.lastReport = now;
    this.failedSince = 0;
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

export interface Tracing {
  readonly enabled: boolean;
  /** A new job's trace (sampling decided now), or undefined when tracing is off. */
  newJobTrace(): JobTrace | undefined;
  /** Export the plans as spans of the trace `traceparent` names (nothing when it is absent, malformed or not sampled). */
  emit(traceparent: string | undefined, plans: SpanPlan[]): void;
  /** Send what is queued (bounded by the exporter's timeout) and stop. */
  shutdown(): Promise<void>;
}

export const TRACING_OFF: Tracing = { enabled: false, newJobTrace: () => undefined, emit: () => {}, shutdown: async () => {} };

/** Where OTLP/HTTP traces go under a base endpoint (as OTEL_EXPORTER_OTLP_ENDPOINT: `<base>/v1/traces`). */
export function tracesUrl(endpoint: string): string {
  return /\/v1\/traces\/?$/.test(endpoint) ? endpoint : `${endpoint.replace(/\/+$/, "")}/v1/traces`;
}

export function startTracing(
  config: OtelConfig,
  service: string,
  opts: { exportTimeoutMs?: number; scheduledDelayMs?: number; warn?: (msg: string, fields: Record<string, unknown>) => void } = {},
): Tracing {
  if (!config.otelEndpoint) return TRACING_OFF;
  const ids = new FixableIds();
  const otlp = new OTLPTraceExporter({ url: tracesUrl(config.otelEndpoint), headers: config.otelHeaders, timeoutMillis: opts.exportTimeoutMs ?? 5000 });
  const exporter = opts.warn ? new ReportingExporter(otlp, opts.warn) : otlp;
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": `nimbus-${service}`, "service.version": VERSION }),
    // The decision is the job's (its traceparent's flags); a root span is made only for a sampled job.
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    idGenerator: ids,
    spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 4096, maxExportBatchSize: 512, scheduledDelayMillis: opts.scheduledDelayMs ?? 1000, exportTimeoutMillis: opts.exportTimeoutMs ?? 5000 })],
  });
  const tracer = provider.getTracer("nimbus", VERSION);
  const ratio = config.otelSamplerRatio;

  const parentOf = (c: TraceContext, spanId: string): Context =>
    trace.setSpanContext(ROOT_CONTEXT, { traceId: c.traceId, spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });

  return {
    enabled: true,
    newJobTrace: () => newJobTrace(ratio),
    emit(traceparent, plans) {
      const c = parseTraceparent(traceparent);
      if (!c || !c.sampled || plans.length === 0) return;
      const root = parentOf(c, c.spanId);
      let attempt: Context | undefined;
      // Parents first: the attempt span before its children.
      const ordered = [...plans].sort((a, b) => rank(a) - rank(b));
      for (const p of ordered) {
        const parent = p.parent === null ? ROOT_CONTEXT : p.parent === "attempt" ? (p.parentSpanId ? parentOf(c, p.parentSpanId) : attempt ?? root) : root;
        ids.next = { traceId: p.parent === null ? c.traceId : undefined, spanId: p.parent === null ? c.spanId : p.spanId };
        const span = tracer.startSpan(p.name, { startTime: p.start, attributes: p.attributes }, parent);
        ids.next = {};
        span.end(p.end);
        if (p.name === "attempt") attempt = trace.setSpan(otelContext.active(), span);
      }
    },
    shutdown: () => provider.shutdown().catch(() => {}),
  };
}

const rank = (p: SpanPlan) => (p.parent === null ? 0 : p.name === "attempt" ? 1 : 2);

/** A span id for a span made later (a job's run span, handed to the job before the span exists). */
export const reserveSpanId = randomSpanId;
