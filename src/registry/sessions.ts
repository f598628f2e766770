/**
 * Upload sessions: which repository an upload belongs to (`<root>/<id>.json`). The bytes are the blob
 * store's temp file of the same id, so an interrupted or cancelled upload is never visible as a blob.
 */
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { writeFileAtomic } from "../blobs/atomic.ts";

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface UploadSession {
  id: string;
  repo: string;
  startedAt: number;
}

export class SessionStore {
  constructor(readonly root: string, private readonly now: () => number = Date.now) {}

  async init(): Promise<this> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    return this;
  }

  async create(repo: string): Promise<UploadSession> {
    const s: UploadSession = { id: randomUUID(), repo, startedAt: this.now() };
    await writeFileAtomic(join(this.root, `${s.id}.json`), JSON.stringify(s));
    return s;
  }

  /** The session of `id` if it exists and belongs to `repo` (another repository's session is unknown). */
  async get(id: string, repo: string): Promise<UploadSession | null> {
    if (!ID.test(id)) return null;
    const text = await readFile(join(this.root, `${id}.json`), "utf8").catch(() => null);
    const s = text ? (JSON.parse(text) as UploadSession) : null;
    return s && s.repo === repo ? s : null;
  }

  /** Every session on disk (for the abandoned-upload cleanup); unreadable files are skipped. */
  async list(): Promise<UploadSession[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    const ids = names.filter((n) => n.endsWith(".json") && ID.test(n.slice(0, -5))).map((n) => n.slice(0, -5));
    const all = await Promise.all(ids.map((id) => readFile(join(this.root, `${id}.json`), "utf8").then((t) => JSON.parse(t) as UploadSession, () => null)));
    return all.filter((s): s is UploadSession => s !== null && s.id !== undefined);
  }

  async remove(id: string): Promise<void> {
    if (ID.test(id)) await rm(join(this.root, `${id}.json`), { force: true });
  }
}
