/** Byte counting and limits for streamed bodies, shared by the storage implementations. */
import { AppError } from "../../core/errors.ts";
import type { PutLimits } from "./types.ts";

export function tooLarge(limits: PutLimits): AppError {
  return new AppError("payload_too_large", `body is larger than ${limits.expectedBytes ?? limits.maxBytes} bytes`);
}

export function checkFinalSize(n: number, limits: PutLimits): void {
  if (limits.expectedBytes !== undefined && n !== limits.expectedBytes)
    throw new AppError("bad_request", `body has ${n} bytes; ${limits.expectedBytes} were declared`);
}

/** Passes chunks through, counting; errors the stream once the limit is passed. */
export function countingStream(limits: PutLimits, counter: { bytes: number }): TransformStream<Uint8Array, Uint8Array> {
  const max = Math.min(limits.maxBytes, limits.expectedBytes ?? Infinity);
  return new TransformStream({
    transform(chunk, controller) {
      counter.bytes += chunk.byteLength;
      if (counter.bytes > max) controller.error(tooLarge(limits));
      else controller.enqueue(chunk);
    },
  });
}

/** Chunks of a web stream (the DOM typings lack ReadableStream's async iterator). */
export async function* chunksOf(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
      yield r.value;
    }
  } finally {
    reader.releaseLock();
  }
}
