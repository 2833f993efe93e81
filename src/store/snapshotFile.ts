// The last-good snapshot on local disk: the accepted flag documents and the version they were
// served at. A sidecar that starts while Redis is away serves these instead of nothing. The
// file holds documents, not compiled state, so it goes through validation again on load and
// survives a change of the compiled form between releases.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { FlagDocument } from './snapshotBuilder.js';

export const SNAPSHOT_FILE_FORMAT = 'proflag-last-good/1';

export interface PersistedSnapshot {
  readonly version: number | null;
  /** Epoch ms when written. */
  readonly savedAt: number;
  readonly documents: readonly FlagDocument[];
}

/** Read the file; null when it does not exist. Throws with a reason when it is unusable. */
export async function readSnapshotFile(path: string): Promise<PersistedSnapshot | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const data = JSON.parse(text) as unknown;
  if (data === null || typeof data !== 'object') throw new Error('not a JSON object');
  const obj = data as Record<string, unknown>;
  if (obj['format'] !== SNAPSHOT_FILE_FORMAT) {
    throw new Error(`unknown format ${JSON.stringify(obj['format'])}, expected ${SNAPSHOT_FILE_FORMAT}`);
  }
  const version = obj['version'];
  if (version !== null && !Number.isSafeInteger(version)) throw new Error('version is not an integer');
  const docs = obj['documents'];
  if (!Array.isArray(docs)) throw new Error('documents is not a list');
  const documents: FlagDocument[] = [];
  for (const d of docs as unknown[]) {
    const entry = d as Record<string, unknown> | null;
    if (!entry || typeof entry['key'] !== 'string' || typeof entry['text'] !== 'string') {
      throw new Error('a document is not { key, text }');
    }
    documents.push({ key: entry['key'], text: entry['text'] });
  }
  const savedAt = typeof obj['savedAt'] === 'number' ? obj['savedAt'] : 0;
  return { version: version as number | null, savedAt, documents };
}

/** Write atomically (temporary file, then rename), so a crash never leaves half a file. */
export async function writeSnapshotFile(path: string, snapshot: PersistedSnapshot): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  const body = JSON.stringify({
    format: SNAPSHOT_FILE_FORMAT,
    version: snapshot.version,
    savedAt: snapshot.savedAt,
    documents: snapshot.documents.map((d) => ({ key: d.key, text: d.text })),
  });
  await writeFile(tmp, body, { mode: 0o600 });
  await rename(tmp, path);
}

/**
 * Writes snapshots one at a time, latest wins: a write asked for while one runs replaces any
 * other waiting one, so a burst of reloads costs at most two writes.
 */
export class SnapshotFileWriter {
  #queued: PersistedSnapshot | null = null;
  #running: Promise<void> | null = null;

  constructor(
    private readonly path: string,
    private readonly onError: (err: Error) => void,
  ) {}

  write(snapshot: PersistedSnapshot): void {
    this.#queued = snapshot;
    this.#running ??= this.#drain();
  }

  /** Resolves when nothing is being written. */
  async flushed(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #drain(): Promise<void> {
    while (this.#queued !== null) {
      const next = this.#queued;
      this.#queued = null;
      try {
        await writeSnapshotFile(this.path, next);
      } catch (err) {
        this.onError(err as Error);
      }
    }
    this.#running = null;
  }
}
