/**
 * One upstream fetch of a missing blob, shared by every pull that wants it meanwhile. The bytes are
 * written to a blob-store temp file as fast as the upstream sends them (not at any client's pace),
 * and each pull reads that file as it grows, so a blob is streamed to its clients while it is stored.
 * At the end the store checks the digest and commits: only then do readers get the last byte, so a
 * client never receives a whole body that does not match its digest. A mismatch, a cut or stalled
 * upstream, or a body past the limit stores nothing and errors every reader's stream.
 */
import type { BlobStore } from "../../blobs/store.ts";
import type { Digest } from "../../blobs/digest.ts";
import { readWithin, type UpstreamReply } from "./client.ts";
import { UpstreamError } from "./errors.ts";

const READ_CHUNK = 1024 * 1024;

type State = "running" | "committing" | "committed" | "failed";

export class BlobFetch {
  /** Bytes on disk in the temp file. */
  private written = 0;
  private state: State = "running";
  private error: unknown = null;
  private waiters: (() => void)[] = [];
  private tempReads = 0;
  /** Repositories to link the blob into once it is stored (every pull that joined). */
  readonly repos = new Set<string>();
  /** Resolves when the fetch has ended, stored or not. */
  readonly done: Promise<boolean>;

  constructor(
    private readonly blobs: BlobStore,
    readonly digest: Digest,
    /** The upstream's declared length; null when it sent none (chunked). */
    readonly size: number | null,
    private readonly tempId: string,
    reply: UpstreamReply,
    o: { upstream: string; maxBytes: number; idleMs: number; link: (repos: string[], size: number) => Promise<void> },
  ) {
    this.done = this.pump(reply, o);
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private changed(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }

  /** The upstream body as a stream the store's `append` pulls; `written` is updated as it asks for more. */
  private source(reply: UpstreamReply, upstream: string, idleMs: number): ReadableStream<Uint8Array> {
    const reader = reply.response.body!.getReader();
    let delivered = 0;
    return new ReadableStream<Uint8Array>(
      {
        pull: async (c) => {
          // With a high-water mark of 0, `append` asks for a chunk only after writing the last one.
          this.written = delivered;
          this.notify();
          const r = await readWithin(reader, idleMs, upstream, reply.abort);
          if (r.done) return c.close();
          delivered += r.value.byteLength;
          c.enqueue(r.value);
        },
        cancel: () => {
          reply.abort();
          return reader.cancel().catch(() => {});
        },
      },
      { highWaterMark: 0 },
    );
  }

  private async pump(reply: UpstreamReply, o: { upstream: string; maxBytes: number; idleMs: number; link: (repos: string[], size: number) => Promise<void> }): Promise<boolean> {
    try {
      if (!reply.response.body) throw new UpstreamError("bad_gateway", o.upstream, "a blob answer without a body");
      this.written = await this.blobs.append(this.tempId, this.source(reply, o.upstream, o.idleMs), { maxBytes: o.maxBytes, expectBytes: this.size ?? undefined });
      this.state = "committing";
      this.notify();
      while (this.tempReads > 0) await this.changed();
      const stored = await this.blobs.commit(this.tempId, this.digest);
      await o.link([...this.repos], stored.size);
      this.written = stored.size;
      this.state = "committed";
      return true;
    } catch (e) {
      reply.abort();
      this.error = e;
      this.state = "failed";
      await this.blobs.discard(this.tempId).catch(() => {});
      return false;
    } finally {
      this.notify();
    }
  }

  /** Why it failed (after `done` resolved false). */
  failure(): unknown {
    return this.error;
  }

  /** A reader of the blob from byte 0, as it arrives; it errors when the fetch fails. */
  stream(): ReadableStream<Uint8Array> {
    let pos = 0;
    return new ReadableStream<Uint8Array>(
      {
        pull: async (c) => {
          for (;;) {
            if (this.state === "failed") return c.error(this.error instanceof Error ? this.error : new Error("upstream fetch failed"));
            const committed = this.state === "committed";
            // Until the digest is checked, the last byte written is held back.
            const limit = committed ? this.written : Math.max(0, this.written - 1);
            if (pos < limit) {
              const end = Math.min(limit, pos + READ_CHUNK);
              const bytes = await this.read(pos, end, committed);
              if (!bytes) continue; // the file moved under us: look at the state again
              pos += bytes.byteLength;
              return c.enqueue(bytes);
            }
            if (committed) return c.close();
            await this.changed();
          }
        },
      },
      { highWaterMark: 0 },
    );
  }

  /** Bytes [start, end) from the temp file while it is one, from the store once committed. */
  private async read(start: number, end: number, committed: boolean): Promise<Uint8Array | null> {
    if (committed) return new Uint8Array(await new Response(await this.blobs.read(this.digest, { start, end: end - 1 })).arrayBuffer());
    if (this.state !== "running") {
      await this.changed();
      return null;
    }
    this.tempReads++;
    let bytes: Uint8Array | null = null;
    try {
      bytes = new Uint8Array(await this.blobs.readTemp(this.tempId, { start, end: end - 1 }).arrayBuffer());
    } catch {
      bytes = null;
    } finally {
      this.tempReads--;
      if (this.tempReads === 0) this.notify();
    }
    if (!bytes) await this.changed();
    return bytes;
  }
}
