/**
 * Following a server-sent-events stream the way a person needs it: a cut connection (a restart, a
 * proxy, a dropped network) is resumed from the last event id with backoff, a connection that goes
 * silent past the heartbeat is taken as cut, and only a service that stays unreachable for a bounded
 * time ends the follow, with a message that names it.
 */
import { AppError } from "../core/errors.ts";
import { HEARTBEAT_MS } from "../http/sse.ts";
import { networkCause, readError } from "./errors.ts";

export interface FollowOptions {
  /** What is being followed, for messages: "the log service at http://…". */
  service: string;
  signal?: AbortSignal;
  /** A connection with no byte (not even a heartbeat) for this long is cut and resumed. */
  idleMs?: number;
  /** Unreachable for this long (no connection opened since): give up. */
  giveUpMs?: number;
  /** Told each time the stream is resumed, with why it was cut. */
  onResume?: (cause: string) => void;
}

export const GIVE_UP_MS = 60_000;

interface Frame {
  id?: string;
  data?: string;
  end: boolean;
}

function parseFrame(text: string): Frame {
  const f: Frame = { end: false };
  const data: string[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith(":")) continue;
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
    if (field === "id") f.id = value;
    else if (field === "data") data.push(value);
    else if (field === "event" && value === "end") f.end = true;
  }
  if (data.length) f.data = data.join("\n");
  return f;
}

/** The frames of one response; a watchdog aborts `conn` when nothing arrives for `idleMs`. */
async function* frames(res: Response, conn: AbortController, idleMs: number, idle: { hit: boolean }): AsyncGenerator<Frame> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = "";
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => ((idle.hit = true), conn.abort()), idleMs);
  };
  try {
    for (;;) {
      arm();
      const { value, done } = await reader.read();
      if (done) return;
      buf += dec.decode(value, { stream: true }).replace(/\r\n/g, "\n");
      let i: number;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const f = parseFrame(buf.slice(0, i));
        buf = buf.slice(i + 2);
        yield f;
        if (f.end) return;
      }
    }
  } finally {
    clearTimeout(watchdog);
    reader.cancel().catch(() => {});
  }
}

const TRANSIENT = new Set([502, 503, 504]);

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });
}

/**
 * Yield each event's data (JSON) until the stream's `event: end`. `open` makes one request, sending
 * `lastId` as Last-Event-ID when there is one. A 4xx answer is thrown as the server's error.
 */
export async function* followSse<T>(open: (lastId: string | undefined, signal: AbortSignal) => Promise<Response>, opts: FollowOptions): AsyncGenerator<T> {
  const idleMs = opts.idleMs ?? 3 * HEARTBEAT_MS;
  const giveUpMs = opts.giveUpMs ?? GIVE_UP_MS;
  let lastId: string | undefined;
  let downSince: number | undefined;
  let delay = 250;
  for (;;) {
    if (opts.signal?.aborted) return;
    const conn = new AbortController();
    const relay = () => conn.abort();
    opts.signal?.addEventListener("abort", relay, { once: true });
    const idle = { hit: false };
    let cause: string;
    try {
      const res = await open(lastId, conn.signal);
      if (!res.ok && !TRANSIENT.has(res.status)) throw await readError(res);
      if (!res.ok) cause = `HTTP ${res.status}`;
      else {
        downSince = undefined;
        for await (const f of frames(res, conn, idleMs, idle)) {
          if (f.end) return;
          if (f.id !== undefined) lastId = f.id;
          if (f.data !== undefined) {
            delay = 250;
            yield JSON.parse(f.data) as T;
          }
        }
        cause = "the stream was cut";
      }
    } catch (e) {
      if (opts.signal?.aborted) return;
      if (e instanceof AppError) throw e;
      cause = idle.hit ? `nothing received for ${Math.round(idleMs / 1000)} s` : networkCause(e);
    } finally {
      opts.signal?.removeEventListener("abort", relay);
    }
    downSince ??= Date.now();
    if (Date.now() - downSince >= giveUpMs)
      throw new AppError("unavailable", `cannot reach ${opts.service} (${cause}), and it stayed unreachable for ${Math.round(giveUpMs / 1000)} s. Is the stack up? (nimbus up)`);
    opts.onResume?.(cause);
    await pause(delay * (0.5 + Math.random() / 2), opts.signal);
    delay = Math.min(delay * 2, 5_000);
  }
}
