import { JetStreamApiError, JetStreamApiCodes } from "@nats-io/jetstream";

/**
 * A compare-and-set lost: the key moved past the revision we held (or exists, for create).
 * For a lease, this is the fencing signal: the holder lost the lease and must stop.
 */
export function isWrongLastSequence(e: unknown): boolean {
  if (e instanceof JetStreamApiError)
    return e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown;
  return e instanceof Error && /wrong last sequence/i.test(e.message);
}
