// What a document must pass before any change writes it: the quick checks first (they give
// the plainest messages for the commonest mistakes), then the project's one flag schema
// (src/flags/schema.ts, the same code every sidecar runs), so a document the change path
// accepts is one every replica accepts.
import { FLAG_NAME_PATTERN, MAX_FLAG_DOCUMENT_LENGTH, parseFlagValue } from '../flags/schema.js';

export type FlagDocument = Record<string, unknown>;

export interface CheckedFlag {
  readonly name: string;
  readonly document: FlagDocument;
  /** The compact JSON that is stored. */
  readonly text: string;
  /** Unknown fields and the like: accepted, worth saying. */
  readonly warnings: readonly string[];
}

export type FlagCheck =
  { readonly ok: true; readonly flag: CheckedFlag } | { readonly ok: false; readonly problems: string[] };

/** The quick checks: an object, a valid name, a boolean `enabled`, sane priority and threshold. */
export function basicProblems(value: unknown): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return ['the document must be a JSON object'];
  const doc = value as FlagDocument;
  const problems: string[] = [];
  if (typeof doc['name'] !== 'string') problems.push('name: expected a string');
  else if (!FLAG_NAME_PATTERN.test(doc['name'])) {
    problems.push(`name: ${JSON.stringify(doc['name']).slice(0, 70)} is not lower-case [a-z0-9][a-z0-9._-]{0,62}`);
  }
  if (typeof doc['enabled'] !== 'boolean') problems.push('enabled: expected true or false');
  if ('priority' in doc && !Number.isInteger(doc['priority'])) problems.push('priority: expected an integer');
  if ('threshold' in doc) {
    const t = doc['threshold'];
    if (typeof t !== 'number' || t < 0 || t > 1) problems.push('threshold: expected a number from 0 to 1');
  }
  return problems;
}

/** The full check of one flag document (a parsed JSON value). */
export function checkFlag(value: unknown): FlagCheck {
  const basic = basicProblems(value);
  if (basic.length > 0) return { ok: false, problems: basic };
  const text = JSON.stringify(value);
  if (text.length > MAX_FLAG_DOCUMENT_LENGTH) {
    return { ok: false, problems: [`document is ${text.length} characters, more than ${MAX_FLAG_DOCUMENT_LENGTH}`] };
  }
  const result = parseFlagValue(value);
  if (!result.ok) return { ok: false, problems: result.issues.map((i) => `${i.path}: ${i.message}`) };
  const document = value as FlagDocument;
  return { ok: true, flag: { name: document['name'] as string, document, text, warnings: result.warnings } };
}

/** Parse text as exactly one JSON value of bounded size (the CLI's and the console's input). */
export function parseDocumentText(text: string): { ok: true; value: unknown } | { ok: false; problem: string } {
  if (text.length > MAX_FLAG_DOCUMENT_LENGTH) {
    return { ok: false, problem: `document is ${text.length} characters, more than ${MAX_FLAG_DOCUMENT_LENGTH}` };
  }
  if (text.trim() === '') return { ok: false, problem: 'malformed JSON: expected one JSON document, found 0' };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    const message = (err as Error).message;
    // JSON.parse says "Unexpected non-whitespace character after JSON" for two documents.
    if (/after JSON/.test(message))
      return { ok: false, problem: 'malformed JSON: expected one JSON document, found more' };
    return { ok: false, problem: `malformed JSON: ${message}` };
  }
}
