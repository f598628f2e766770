/** The SSE writer against a real Bun server: ids, heartbeats, the end marker, and Bun's idle timeout lifted. */
import { afterEach, expect, test } from "bun:test";
import { sse, lastEventSeq } from "../../src/http/sse.ts";

let server: ReturnType<typeof Bun.serve> | undefined;
afterEach(() => server?.stop(true));

async function* after(ms: number, events: { id: number; data: unknown }[]) {
  await Bun.sleep(ms);
  yield* events;
}

test("events carry ids, quiet stretches carry heartbeats, the stream ends with event: end", async () => {
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => sse(after(300, [{ id: 7, data: { text: "a" } }]), { heartbeatMs: 50 }) });
  const text = await (await fetch(`http://127.0.0.1:${server.port}/`)).text();
  expect(text.startsWith(": open\n\n")).toBe(true);
  expect(text).toContain(": ping\n\n");
  expect(text.endsWith('id: 7\ndata: {"text":"a"}\n\nevent: end\ndata: {}\n\n')).toBe(true);
});

test("a stream quieter than Bun's idle timeout stays open (the timeout is lifted for the stream)", async () => {
  // idleTimeout 1 s (Bun's timer ticks every 4 s, so it fires at about 4 s); the first event after 6 s.
  // Bun counts a streaming response as idle however much it writes, so without server.timeout(req, 0)
  // this connection is reset before the event.
  server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 1,
    fetch: (request, srv) => sse(after(6000, [{ id: 1, data: "late" }]), { request, server: srv, heartbeatMs: 200 }),
  });
  const text = await (await fetch(`http://127.0.0.1:${server.port}/`)).text();
  expect(text).toContain('id: 1\ndata: "late"\n\nevent: end');
}, 20_000);

test("Last-Event-ID is read as a whole number, anything else as none", () => {
  const req = (v?: string) => new Request("http://x/", { headers: v === undefined ? {} : { "last-event-id": v } });
  expect([lastEventSeq(req("42")), lastEventSeq(req(" 7 ")), lastEventSeq(req("x1")), lastEventSeq(req("-1")), lastEventSeq(req())]).toEqual([42, 7, null, null, null]);
});
