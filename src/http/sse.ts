/**
 * Server-sent events, the one wire format of every Nimbus stream: each event carries an `id:` a
 * client resumes from (`Last-Event-ID`), a `: ping` comment goes out every HEARTBEAT_MS so no idle
 * timeout on the path (a proxy's, the client's) closes a quiet stream, and `event: end` says the
 * stream is over (a stream that stops without it was cut, and the client resumes).
 */

/** Well inside the idle timeouts on the path (proxies commonly 60 s, the CLI's watchdog 3 × this). */
export const HEARTBEAT_MS = 15_000;

export interface SseEvent {
  id: string | number;
  data: unknown;
}

/** The bit of Bun's server a stream needs: lifting the idle timeout for one request. */
export interface StreamServer {
  timeout(request: Request, seconds: number): void;
}

export interface SseOptions {
  /** The request being answered: its abort ends the stream; with `server`, Bun's idle timeout is lifted for it. */
  request?: Request;
  server?: StreamServer | null;
  heartbeatMs?: number;
  onClose?: () => void;
}

const enc = new TextEncoder();
const frame = (e: SseEvent) => `id: ${String(e.id).replace(/[\r\n]/g, "")}\ndata: ${JSON.stringify(e.data)}\n\n`;

/**
 * A text/event-stream response from an async iterator; it ends (with `event: end`) when the iterator
 * does. Bun counts a streaming response as idle however much it writes, so its idle timeout is lifted
 * for this request: the heartbeat is what keeps the path open, and what finds a client that went away.
 */
export function sse(iter: AsyncIterable<SseEvent>, opts: SseOptions = {}): Response {
  if (opts.request && opts.server) opts.server.timeout(opts.request, 0);
  let closed = false;
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    opts.onClose?.();
  };
  opts.request?.signal.addEventListener("abort", close, { once: true });
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      const send = (text: string) => {
        if (!closed) controller.enqueue(enc.encode(text));
      };
      heartbeat = setInterval(() => {
        try {
          send(": ping\n\n");
        } catch {
          close();
        }
      }, opts.heartbeatMs ?? HEARTBEAT_MS);
      try {
        send(": open\n\n"); // headers and a first byte at once, so the client knows the stream is up
        for await (const e of iter) {
          if (closed) break;
          send(frame(e));
        }
        send("event: end\ndata: {}\n\n");
      } catch {
        // the client went away or the source failed: end without `end`, so a client resumes
      } finally {
        close();
        try {
          controller.close();
        } catch {}
      }
    },
    cancel() {
      close();
    },
  });
  return new Response(stream, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" } });
}

/** The `Last-Event-ID` a reconnecting client sent, as a whole number, or null. */
export function lastEventSeq(request: Request): number | null {
  const raw = request.headers.get("last-event-id");
  if (raw === null || !/^\d{1,15}$/.test(raw.trim())) return null;
  return Number(raw.trim());
}
