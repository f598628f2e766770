/**
 * An OTLP/HTTP trace receiver for tests: accepts `POST /v1/traces` (protobuf, as the exporter sends it),
 * decodes ExportTraceServiceRequest with a small protobuf reader (no collector is installable here)
 * and keeps every span.
 */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  start: number;
  end: number;
  attributes: Record<string, string | number | boolean>;
  service: string;
}

export interface OtlpReceiver {
  url: string;
  spans: ReceivedSpan[];
  /** Requests received (with their headers), decoded or not. */
  requests: { path: string; contentType: string | null; headers: Headers }[];
  stop(): Promise<void>;
}

type Field = { no: number; wire: number; value: bigint | Uint8Array };

/** The fields of one protobuf message (varint, fixed64, length-delimited, fixed32). */
function fields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = (): bigint => {
    let r = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= buf.length) throw new Error("truncated varint");
      const b = buf[i++]!;
      r |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return r;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const no = key >>> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ no, wire, value: varint() });
    else if (wire === 1) {
      out.push({ no, wire, value: new DataView(buf.buffer, buf.byteOffset + i, 8).getBigUint64(0, true) });
      i += 8;
    } else if (wire === 2) {
      const len = Number(varint());
      out.push({ no, wire, value: buf.subarray(i, i + len) });
      i += len;
    } else if (wire === 5) {
      out.push({ no, wire, value: BigInt(new DataView(buf.buffer, buf.byteOffset + i, 4).getUint32(0, true)) });
      i += 4;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

const bytes = (f: Field[], no: number) => f.filter((x) => x.no === no).map((x) => x.value as Uint8Array);
const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString("hex") : "");
const text = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : "");

/** KeyValue { key = 1; AnyValue value = 2 { string 1, bool 2, int 3, double 4 } } */
function attributes(kvs: Uint8Array[]): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of kvs) {
    const f = fields(kv);
    const key = text(bytes(f, 1)[0]);
    const any = fields(bytes(f, 2)[0] ?? new Uint8Array());
    const v = any[0];
    if (!v) continue;
    if (v.no === 1) out[key] = text(v.value as Uint8Array);
    else if (v.no === 2) out[key] = v.value === 1n;
    else if (v.no === 3) out[key] = Number(BigInt.asIntN(64, v.value as bigint));
    else if (v.no === 4) out[key] = new DataView(new BigUint64Array([v.value as bigint]).buffer).getFloat64(0, true);
  }
  return out;
}

/** ExportTraceServiceRequest { ResourceSpans resource_spans = 1 { Resource resource = 1; ScopeSpans scope_spans = 2 { Span spans = 2 } } } */
export function decodeTraceRequest(body: Uint8Array): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of bytes(fields(body), 1)) {
    const rsf = fields(rs);
    const resource = attributes(bytes(fields(bytes(rsf, 1)[0] ?? new Uint8Array()), 1));
    for (const ss of bytes(rsf, 2)) {
      for (const sp of bytes(fields(ss), 2)) {
        const f = fields(sp);
        const fixed = (no: number) => Number((f.find((x) => x.no === no)?.value as bigint | undefined) ?? 0n) / 1e6;
        out.push({
          traceId: hex(bytes(f, 1)[0]),
          spanId: hex(bytes(f, 2)[0]),
          parentSpanId: hex(bytes(f, 4)[0]),
          name: text(bytes(f, 5)[0]),
          start: fixed(7),
          end: fixed(8),
          attributes: attributes(bytes(f, 9)),
          service: String(resource["service.name"] ?? ""),
        });
      }
    }
  }
  return out;
}

export function startOtlpReceiver(): OtlpReceiver {
  const spans: ReceivedSpan[] = [];
  const requests: OtlpReceiver["requests"] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const path = new URL(req.url).pathname;
      requests.push({ path, contentType: req.headers.get("content-type"), headers: req.headers });
      if (req.method !== "POST" || path !== "/v1/traces") return new Response("not found", { status: 404 });
      if (req.headers.get("content-type") !== "application/x-protobuf") return new Response("protobuf only", { status: 415 });
      spans.push(...decodeTraceRequest(new Uint8Array(await req.arrayBuffer())));
      // An empty ExportTraceServiceResponse.
      return new Response(new Uint8Array(), { headers: { "content-type": "application/x-protobuf" } });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, spans, requests, stop: async () => void server.stop(true) };
}
