// The fleet-mode sample format: one field `p` of a Redis Stream entry holding a JSON array of
// the derived profile fields only (never a raw user agent or IP address):
//   [1, timeMs, method, endpoint|null, payloadSize|null, sizeBin|null, hour, country|null,
//    uaHash|null, uaVector (64 int8 as base64)|null, clientKey]
// The user-agent embedding is quantised to int8 (64 bytes, 88 base64 characters); the learner
// re-normalises it. Decoding validates every field: a malformed entry is null (and counted),
// never an exception.
import { UA_EMBED_DIMS } from '../features/userAgent.js';
import type { LearnerInput } from './learner.js';

export const SAMPLE_FORMAT_VERSION = 1;
export const SAMPLE_FIELD = 'p';

export interface DecodedSample {
  readonly timeMs: number;
  readonly profile: LearnerInput;
}

function encodeVector(v: Float32Array | null): string | null {
  if (v === null) return null;
  const q = new Int8Array(UA_EMBED_DIMS);
  for (let i = 0; i < UA_EMBED_DIMS; i++) {
    const x = Math.round((v[i] ?? 0) * 127);
    q[i] = x > 127 ? 127 : x < -127 ? -127 : x;
  }
  return Buffer.from(q.buffer).toString('base64');
}

function decodeVector(text: unknown): Float32Array | null | undefined {
  if (text === null) return null;
  if (typeof text !== 'string' || text.length > 128) return undefined;
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== UA_EMBED_DIMS) return undefined;
  const q = new Int8Array(bytes.buffer, bytes.byteOffset, UA_EMBED_DIMS);
  const v = new Float32Array(UA_EMBED_DIMS);
  let norm = 0;
  for (let i = 0; i < UA_EMBED_DIMS; i++) {
    v[i] = q[i]! / 127;
    norm += v[i]! * v[i]!;
  }
  if (norm === 0) return undefined;
  const inv = 1 / Math.sqrt(norm);
  for (let i = 0; i < UA_EMBED_DIMS; i++) v[i]! *= inv;
  return v;
}

export function encodeSample(p: LearnerInput, timeMs: number): string {
  return JSON.stringify([
    SAMPLE_FORMAT_VERSION,
    Math.floor(timeMs),
    p.method,
    p.endpoint,
    p.payloadSize,
    p.sizeBin ?? null,
    p.hour,
    p.country,
    p.uaHash,
    encodeVector(p.uaVector),
    p.clientKey,
  ]);
}

const isStringOrNull = (x: unknown, max: number): x is string | null =>
  x === null || (typeof x === 'string' && x.length <= max);
const isCountOrNull = (x: unknown): x is number | null =>
  x === null || (typeof x === 'number' && Number.isFinite(x) && x >= 0);

/** A sample from its stream field; null when it is not a well-formed version-1 sample. */
export function decodeSample(text: string): DecodedSample | null {
  if (typeof text !== 'string' || text.length > 4096) return null;
  let a: unknown;
  try {
    a = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Array.isArray(a) || a.length !== 11 || a[0] !== SAMPLE_FORMAT_VERSION) return null;
  const [, timeMs, method, endpoint, payloadSize, sizeBin, hour, country, uaHash, vector, clientKey] = a as unknown[];
  if (typeof timeMs !== 'number' || !Number.isFinite(timeMs)) return null;
  if (typeof method !== 'string' || method.length > 32) return null;
  if (!isStringOrNull(endpoint, 1024) || !isCountOrNull(payloadSize) || !isCountOrNull(sizeBin)) return null;
  if (typeof hour !== 'number' || !Number.isInteger(hour) || hour < 0 || hour > 23) return null;
  if (!isStringOrNull(country, 2) || !isStringOrNull(uaHash, 64)) return null;
  if (typeof clientKey !== 'string' || clientKey.length > 64) return null;
  const uaVector = decodeVector(vector);
  if (uaVector === undefined) return null;
  return {
    timeMs,
    profile: { method, endpoint, payloadSize, sizeBin, hour, country, uaHash, uaVector, clientKey },
  };
}
