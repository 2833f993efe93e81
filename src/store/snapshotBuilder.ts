// The path every store shares from raw documents to a served snapshot: validate each
// document on its own (a bad one is rejected with a reason, the others go on), compile the
// valid ones, and report what is new among the rejections. Reasons are safe to log: they
// name a key and a schema path, never the document itself (it may carry user-agent
// exemplars), and they are bounded in length.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { FLAG_NAME_PATTERN, parseFlagDocument, type FlagDefinition, type FlagIssue } from '../flags/schema.js';
import type { RejectedFlag, Snapshot, SnapshotMeta } from '../matcher/snapshot.js';
import type { StoreMetrics } from './storeMetrics.js';

/** compileSnapshot's shape (src/matcher/compile.ts); injected so stores can be tested alone. */
/** May be asynchronous: a large compile yields to the event loop (compileSnapshotAsync). */
export type CompileSnapshot = (flags: readonly FlagDefinition[], meta: SnapshotMeta) => Snapshot | Promise<Snapshot>;

/** One stored flag document: its key (Redis: the part after `flag:`; files: the file name). */
export interface FlagDocument {
  readonly key: string;
  readonly text: string;
}

export interface ValidatedDocuments {
  readonly flags: FlagDefinition[];
  /** The documents behind `flags`, in the same order (for the last-good snapshot file). */
  readonly accepted: FlagDocument[];
  readonly rejected: RejectedFlag[];
  readonly warnings: Array<{ key: string; warning: string }>;
}

export interface ValidateOptions {
  /** Redis: the key names the flag, so the document's name must equal it. */
  readonly keyIsName: boolean;
  /**
   * When two documents carry one name, the one under this key wins (files: `<name>.json`);
   * otherwise the first key in sorted order.
   */
  readonly canonicalKey?: (name: string) => string;
  /** Documents the caller refused without reading (e.g. files too large to read). */
  readonly refused?: readonly RejectedFlag[];
}

const MAX_KEY_IN_REASON = 80;
const MAX_ISSUES_IN_REASON = 5;
const MAX_REASON_LENGTH = 600;

/** A key as it may appear in logs: bounded, control characters escaped. */
export function printableKey(key: string): string {
  const clean = key.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return clean.length > MAX_KEY_IN_REASON ? `${clean.slice(0, MAX_KEY_IN_REASON - 3)}...` : clean;
}

/** Schema issues as one bounded line; values under `userAgent` are not echoed. */
export function describeIssues(issues: readonly FlagIssue[]): string {
  const parts = issues.slice(0, MAX_ISSUES_IN_REASON).map((issue) => {
    const message = issue.path.includes('userAgent') ? issue.message.replace(/; got [\s\S]*$/, '') : issue.message;
    return `${issue.path}: ${message}`;
  });
  if (issues.length > MAX_ISSUES_IN_REASON) {
    parts.push(`and ${issues.length - MAX_ISSUES_IN_REASON} more`);
  }
  const text = parts.join('; ');
  return text.length > MAX_REASON_LENGTH ? `${text.slice(0, MAX_REASON_LENGTH - 3)}...` : text;
}

/** Validate every document; never throws. Output order follows the keys, sorted. */
export function validateDocuments(documents: readonly FlagDocument[], options: ValidateOptions): ValidatedDocuments {
  const sorted = [...documents].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const flags: FlagDefinition[] = [];
  const accepted: FlagDocument[] = [];
  const rejected: RejectedFlag[] = [...(options.refused ?? [])];
  const warnings: Array<{ key: string; warning: string }> = [];
  const valid: Array<{ doc: FlagDocument; key: string; flag: FlagDefinition; warnings: string[] }> = [];

  for (const doc of sorted) {
    const key = printableKey(doc.key);
    if (options.keyIsName && !FLAG_NAME_PATTERN.test(doc.key)) {
      rejected.push({
        key,
        reason: 'the key is not a valid flag name (lower-case [a-z0-9][a-z0-9._-]{0,62})',
      });
      continue;
    }
    const parsed = parseFlagDocument(doc.text);
    if (!parsed.ok) {
      rejected.push({ key, reason: describeIssues(parsed.issues) });
      continue;
    }
    const name = parsed.flag.name;
    if (options.keyIsName && name !== doc.key) {
      rejected.push({ key, reason: `name: "${name}" does not match its key` });
      continue;
    }
    valid.push({ doc, key, flag: parsed.flag, warnings: parsed.warnings });
  }

  const owner = new Map<string, string>();
  if (options.canonicalKey) {
    for (const v of valid) {
      if (v.doc.key === options.canonicalKey(v.flag.name)) owner.set(v.flag.name, v.doc.key);
    }
  }
  for (const v of valid) {
    const name = v.flag.name;
    const first = owner.get(name);
    if (first === undefined) owner.set(name, v.doc.key);
    else if (first !== v.doc.key) {
      rejected.push({ key: v.key, reason: `name: "${name}" is already defined by ${printableKey(first)}` });
      continue;
    }
    flags.push(v.flag);
    accepted.push(v.doc);
    for (const warning of v.warnings) warnings.push({ key: v.key, warning });
  }
  return { flags, accepted, rejected, warnings };
}

/** A digest of a document set, independent of order: equal digests, equal documents. */
export function documentsDigest(documents: readonly FlagDocument[]): string {
  const sorted = [...documents].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const hash = createHash('sha256');
  for (const doc of sorted) {
    // Lengths first, so no pair of (key, text) can be shifted into another.
    hash.update(`${doc.key.length}:${doc.text.length}:`);
    hash.update(doc.key);
    hash.update('\0');
    hash.update(doc.text);
    hash.update('\0');
  }
  return hash.digest('hex');
}

export interface BuiltSnapshot {
  readonly snapshot: Snapshot;
  readonly validated: ValidatedDocuments;
  readonly compileSeconds: number;
}

/** Validate and compile. Throws only when compile throws (a bug, kept out of the swap). */
export async function buildSnapshot(
  documents: readonly FlagDocument[],
  meta: { version: number | null; source: string },
  compile: CompileSnapshot,
  options: ValidateOptions,
): Promise<BuiltSnapshot> {
  const validated = validateDocuments(documents, options);
  const started = performance.now();
  const snapshot = await compile(validated.flags, {
    version: meta.version,
    source: meta.source,
    rejected: validated.rejected,
  });
  return { snapshot, validated, compileSeconds: (performance.now() - started) / 1000 };
}

/**
 * Logs each rejection and warning once (while it persists, later loads stay quiet) and
 * counts the new ones. One per store.
 */
export class RejectionReporter {
  #rejected = new Set<string>();
  #warned = new Set<string>();

  constructor(
    private readonly logger: Logger,
    private readonly metrics: StoreMetrics,
  ) {}

  report(rejected: readonly RejectedFlag[], warnings: ValidatedDocuments['warnings']): void {
    const nextRejected = new Set<string>();
    let fresh = 0;
    for (const r of rejected) {
      const id = `${r.key}\0${r.reason}`;
      nextRejected.add(id);
      if (!this.#rejected.has(id)) {
        fresh += 1;
        this.logger.warn({ key: r.key, reason: r.reason }, 'flag rejected; the other flags keep serving');
      }
    }
    for (const id of this.#rejected) {
      if (!nextRejected.has(id)) {
        const key = id.slice(0, id.indexOf('\0'));
        this.logger.info({ key }, 'flag no longer rejected');
      }
    }
    this.#rejected = nextRejected;
    if (fresh > 0) this.metrics.flagsRejected(fresh);
    this.metrics.rejectedFlags(rejected.length);

    const nextWarned = new Set<string>();
    for (const w of warnings) {
      const id = `${w.key}\0${w.warning}`;
      nextWarned.add(id);
      if (!this.#warned.has(id)) this.logger.warn({ key: w.key, warning: w.warning }, 'flag accepted with a warning');
    }
    this.#warned = nextWarned;
  }
}
