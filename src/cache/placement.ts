/**
 * Where a v2 block goes in the archive file before Put Block List says where it belongs. The Azure
 * SDK (so @actions/cache and BuildKit's client) names block n `base64(prefix + zero-padded n)` and
 * cuts the archive into equal blocks, all full but the last; so block n most likely starts at
 * n × blockSize. A block placed by that guess is written straight into the entry's archive file and
 * the block list only has to confirm it: nothing is copied at commit. A block that cannot be placed
 * (no trailing number, another prefix, a region already taken or being written) goes to its own
 * object and is copied in at commit; so is any placed block the list puts elsewhere. Guesses are
 * hints held in memory: losing them (a restart) costs a copy, never correctness, because commit
 * checks every part's offset against the list (see compose in src/blobs/backend/types.ts).
 */

interface Region {
  start: number;
  size: number;
  busy: boolean;
}

interface Upload {
  prefix: string;
  stride: number;
  regions: Map<string, Region>;
}

const INDEXED = /^([\x20-\x7e]*?)(\d{1,9})$/;

export class BlockPlacer {
  private readonly uploads = new Map<number, Upload>();

  /**
   * Offset for block `blockId` (base64) of `size` bytes in entry `entryId`'s archive, reserved
   * until `settle`; undefined when the block should be stored on its own.
   */
  place(entryId: number, blockId: string, size: number | undefined, maxBytes: number): number | undefined {
    if (size === undefined || size <= 0) return undefined;
    const m = INDEXED.exec(Buffer.from(blockId, "base64").toString("latin1"));
    if (!m) return undefined;
    const u = this.uploads.get(entryId) ?? { prefix: m[1]!, stride: size, regions: new Map<string, Region>() };
    if (u.prefix !== m[1]) return undefined;
    this.uploads.set(entryId, u);
    u.stride = Math.max(u.stride, size); // the last block is the short one
    const start = Number(m[2]) * u.stride;
    if (!Number.isSafeInteger(start) || start + size > maxBytes) return undefined;
    if (u.regions.get(blockId)?.busy) return undefined; // the same block twice at once: the second gets its own object
    for (const [id, r] of u.regions) if (id !== blockId && start < r.start + r.size && r.start < start + size) return undefined;
    u.regions.set(blockId, { start, size, busy: true });
    return start;
  }

  /** The write of a placed block ended; a failed one frees its region. */
  settle(entryId: number, blockId: string, ok: boolean): void {
    const u = this.uploads.get(entryId);
    const r = u?.regions.get(blockId);
    if (!u || !r) return;
    if (ok) r.busy = false;
    else u.regions.delete(blockId);
  }

  /** The entry was committed or discarded. */
  forget(entryId: number): void {
    this.uploads.delete(entryId);
  }
}
