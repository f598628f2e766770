import { JetStreamApiError, JetStreamApiCodes } from "@nats-io/jetstream";

/**
 * A compare-and-set lost: the key moved past the revision we held (or exists, for create).
 * For a lease, this is the fencing signal: the holder lost the lease and must stop.
 *
 * Classified by the JetStream API code only. Against nats-server 2.9, every CAS that loses (KV
 * create on an existing key, update with a wrong revision or of a missing key, delete with a
 * wrong `previousSeq`) arrives as a JetStreamApiError with code 10071 (test/core/nats-errors.test.ts).
 */
export function isWrongLastSequence(e: unknown): boolean {
  return e instanceof JetStreamApiError && (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

/** JetStream API codes Nimbus branches on besides the CAS ones (nats-server's errors.json). */
export const API = {
  streamNotFound: JetStreamApiCodes.StreamNotFound, // 10059
  streamNameExists: 10058, // JSStreamNameExistErr: not in the client's table
} as const;

/** A JetStream API error with this code. */
export function isApiError(e: unknown, code: number): e is JetStreamApiError {
  return e instanceof JetStreamApiError && e.code === code;
}

/** Run one compare-and-set; `null` when it lost (see isWrongLastSequence), any other error thrown. */
export async function unlessCasLost<T>(cas: Promise<T>): Promise<T | null> {
  try {
    return await cas;
  } catch (e) {
    if (isWrongLastSequence(e)) return null;
    throw e;
  }
}
