// The embedded flag repository: every `*.json` in one folder (default examples/flags), one
// flag per file. Same validation as Redis: a bad file is rejected with its name and a reason
// and the others serve. The folder is watched (fs.watch, debounced) and rescanned
// periodically, because fs.watch misses events on some file systems and editors that save
// by rename. A rescan that finds the same names, sizes and mtimes reads nothing.
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { MAX_FLAG_DOCUMENT_LENGTH } from '../flags/schema.js';
import { ReloadScheduler } from './reloadScheduler.js';
import {
  buildSnapshot,
  documentsDigest,
  RejectionReporter,
  type CompileSnapshot,
  type FlagDocument,
} from './snapshotBuilder.js';
import type { RejectedFlag } from '../matcher/snapshot.js';
import type { SnapshotHolder } from './snapshotHolder.js';
import { noopStoreMetrics, type StoreMetrics } from './storeMetrics.js';

export interface FileStoreOptions {
  /** The folder of flag files. */
  readonly dir: string;
  readonly logger: Logger;
  readonly metrics?: StoreMetrics;
  readonly compile: CompileSnapshot;
  readonly holder: SnapshotHolder;
  /** Quiet time after a folder event before reloading, ms. Default 50. */
  readonly debounceMs?: number;
  /** Periodic rescan, ms. Default 2000. */
  readonly rescanMs?: number;
  /** Stale when neither the watch nor a rescan has worked for this long. Default: never. */
  readonly staleAfterMs?: number;
  /** More files than this fails the load (the snapshot is kept). Default 10,000. */
  readonly maxFiles?: number;
}

/** A document's size bound in bytes: UTF-8 needs at most 3 bytes per UTF-16 code unit. */
const MAX_FILE_BYTES = MAX_FLAG_DOCUMENT_LENGTH * 3;

export class FileStore {
  readonly #dir: string;
  readonly #source: string;
  readonly #log: Logger;
  readonly #metrics: StoreMetrics;
  readonly #compile: CompileSnapshot;
  readonly #holder: SnapshotHolder;
  readonly #debounceMs: number;
  readonly #rescanMs: number;
  readonly #maxFiles: number;
  readonly #scheduler: ReloadScheduler;
  readonly #reporter: RejectionReporter;
  #watcher: FSWatcher | null = null;
  #watchDebounce: NodeJS.Timeout | null = null;
  #rescanTimer: NodeJS.Timeout | null = null;
  #signature: string | null = null;
  #digest: string | null = null;
  #lastError: string | null = null;
  #closed = false;

  constructor(options: FileStoreOptions) {
    this.#dir = resolve(options.dir);
    this.#source = `file:${this.#dir}`;
    this.#log = options.logger.child({ component: 'fileStore', dir: this.#dir });
    this.#metrics = options.metrics ?? noopStoreMetrics;
    this.#compile = options.compile;
    this.#holder = options.holder;
    this.#debounceMs = options.debounceMs ?? 50;
    this.#rescanMs = options.rescanMs ?? 2000;
    this.#maxFiles = options.maxFiles ?? 10_000;
    if (options.staleAfterMs !== undefined) this.#holder.configureStaleness(options.staleAfterMs);
    this.#reporter = new RejectionReporter(this.#log, this.#metrics);
    this.#scheduler = new ReloadScheduler({
      debounceMs: 0,
      run: () => this.#reload(),
      retryDelayMs: () => this.#rescanMs,
    });
  }

  get dir(): string {
    return this.#dir;
  }

  get ready(): boolean {
    return this.#holder.loaded;
  }

  get reloadCount(): number {
    return this.#scheduler.runs;
  }

  /** Load once (resolves after that first attempt, successful or not), then watch. */
  async start(): Promise<void> {
    await this.#reload();
    this.#startWatch();
    // Catch what changed between the first read and the watch starting (cheap when nothing).
    this.#scheduler.request('watch-started');
    this.#rescanTimer = setInterval(() => {
      if (this.#watcher === null) this.#startWatch();
      this.#scheduler.request('rescan');
    }, this.#rescanMs);
    this.#rescanTimer.unref();
  }

  requestReload(reason = 'manual'): void {
    this.#scheduler.request(reason);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#rescanTimer) clearInterval(this.#rescanTimer);
    if (this.#watchDebounce) clearTimeout(this.#watchDebounce);
    this.#stopWatch();
    this.#scheduler.stop();
    await this.#scheduler.whenIdle();
  }

  #startWatch(): void {
    if (this.#closed || this.#watcher !== null) return;
    try {
      const w = watch(this.#dir, { persistent: false }, () => this.#onFolderEvent());
      w.on('error', (err) => {
        this.#metrics.error('watch');
        this.#log.warn({ err: err.message }, 'watching the flag folder failed; rescanning periodically');
        this.#stopWatch();
      });
      this.#watcher = w;
      this.#holder.setFeedConnected(true);
      this.#metrics.feedConnected(true);
    } catch (err) {
      // The folder does not exist (yet): the rescan timer tries again.
      this.#log.debug({ err: (err as Error).message }, 'cannot watch the flag folder');
    }
  }

  #stopWatch(): void {
    this.#watcher?.close();
    this.#watcher = null;
    this.#holder.setFeedConnected(false);
    this.#metrics.feedConnected(false);
  }

  #onFolderEvent(): void {
    if (this.#watchDebounce) clearTimeout(this.#watchDebounce);
    // Trailing debounce: editors write a file in several steps.
    this.#watchDebounce = setTimeout(() => {
      this.#watchDebounce = null;
      this.#scheduler.request('watch');
    }, this.#debounceMs);
    this.#watchDebounce.unref();
  }

  async #reload(): Promise<boolean> {
    if (this.#closed) return true;
    const started = performance.now();
    let names: string[];
    let signature: string;
    try {
      const entries = await readdir(this.#dir, { withFileTypes: true });
      names = entries
        .filter((e) => (e.isFile() || e.isSymbolicLink()) && e.name.endsWith('.json') && !e.name.startsWith('.'))
        .map((e) => e.name)
        .sort();
      if (names.length > this.#maxFiles) throw new Error(`more than ${this.#maxFiles} flag files`);
      const stats = await Promise.all(names.map((n) => stat(join(this.#dir, n)).catch(() => null)));
      signature = names.map((n, i) => `${n}:${stats[i]?.size ?? -1}:${stats[i]?.mtimeMs ?? -1}`).join('\n');
      if (this.#holder.loaded && signature === this.#signature) {
        this.#synced();
        this.#metrics.reload('unchanged', (performance.now() - started) / 1000);
        return true;
      }
      const documents: FlagDocument[] = [];
      const refused: RejectedFlag[] = [];
      for (let i = 0; i < names.length; i++) {
        const name = names[i]!;
        const size = stats[i]?.size;
        if (size === undefined) continue; // removed since readdir
        if (size > MAX_FILE_BYTES) {
          refused.push({ key: name, reason: `(document): file is ${size} bytes, too large to be a flag (not read)` });
          continue;
        }
        const text = await readFile(join(this.#dir, name), 'utf8').catch(() => null);
        if (text !== null) documents.push({ key: name, text });
      }
      return await this.#apply(documents, refused, signature, started);
    } catch (err) {
      const message = `reading the flag folder failed: ${(err as Error).message}`;
      this.#holder.recordError(message);
      this.#metrics.error('watch');
      this.#metrics.reload('failed', (performance.now() - started) / 1000);
      if (message !== this.#lastError) this.#log.warn(message);
      this.#lastError = message;
      return false;
    }
  }

  async #apply(
    documents: FlagDocument[],
    refused: RejectedFlag[],
    signature: string,
    started: number,
  ): Promise<boolean> {
    const digest = documentsDigest([...documents, ...refused.map((r) => ({ key: r.key, text: r.reason }))]);
    if (this.#holder.loaded && digest === this.#digest) {
      this.#signature = signature;
      this.#synced();
      this.#metrics.reload('unchanged', (performance.now() - started) / 1000);
      return true;
    }
    let built;
    try {
      built = await buildSnapshot(documents, { version: null, source: this.#source }, this.#compile, {
        keyIsName: false,
        canonicalKey: (name) => `${name}.json`,
        refused,
      });
    } catch (err) {
      const message = `compiling the snapshot failed: ${(err as Error).message}`;
      this.#holder.recordError(message);
      this.#metrics.error('compile');
      this.#metrics.reload('failed', (performance.now() - started) / 1000);
      this.#log.error(message);
      return false;
    }
    this.#holder.swap(built.snapshot);
    this.#signature = signature;
    this.#digest = digest;
    this.#synced();
    this.#reporter.report(built.snapshot.rejected, built.validated.warnings);
    this.#metrics.compiled(built.compileSeconds);
    this.#metrics.version(null);
    const seconds = (performance.now() - started) / 1000;
    this.#metrics.reload('applied', seconds);
    this.#log.info(
      { flags: built.snapshot.flagCount, rejected: built.snapshot.rejected.length, ms: Math.round(seconds * 1000) },
      'snapshot loaded from files',
    );
    return true;
  }

  #synced(): void {
    const now = Date.now();
    this.#holder.recordSync(now);
    this.#metrics.lastSync(now);
    this.#lastError = null;
  }
}
