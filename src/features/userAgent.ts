// User-agent features: a keyed hash (the only identity of a user agent that proflag keeps)
// and a small dense embedding for similarity ranges. Pure: no I/O, no model download.
//
// Embedding scheme ("hybrid signed feature hashing", 64 dimensions, L2-normalised):
//   - The string is lower-cased (ASCII only) and every run of digits becomes one '#', so
//     Chrome/120.0.6099.43 and Chrome/131.0.0.0 look the same: versions say little about the
//     family and would otherwise dominate the vector.
//   - Product tokens (the `name` of `name/version` outside parentheses: chrome, crios,
//     firefox, mobile, safari, ...) and comment words (inside parentheses, split at `;`, `,`
//     and spaces: android, iphone, windows, x#, sm-g#p, ...) are hashed into the vector, plus
//     each pair of consecutive product tokens ("mobile safari", "crios mobile").
//   - Character 3-grams of the masked string are hashed in with a smaller weight, so that
//     unseen tokens still land near their look-alikes (curl/8.4.0 near curl/7.68.0).
//   - Boilerplate product tokens that nearly every browser sends (mozilla, applewebkit, khtml,
//     like, gecko) carry a reduced weight.
// Each feature adds ±weight to one dimension (index and sign from a 32-bit FNV-1a hash of the
// feature, a separate seed per feature kind). Only the first UA_EMBED_MAX_CHARS characters
// are looked at, so a 100 KB header costs the same as a normal one.
//
// Chosen by measurement on the 952 distinct real user agents of the `user-agents` package
// (labels from ua-parser-js 1.x; exact 10-NN of each among the others; bench/features.bench.ts,
// test/helpers/uaCorpus.ts). Share of the 10 nearest neighbours with the query's browser / OS
// family (every user agent has both labels there):
//   character 3-grams only ............................. 0.958 / 0.989
//   tokens only (no n-grams) ........................... 0.963 / 0.985
//   hybrid, product pairs 0.7 .......................... 0.963 / 0.988
//   hybrid, product pairs 1.2 (chosen) ................. 0.968 / 0.982
//   hybrid, product 1.5 + pairs 1.0 .................... 0.967 / 0.982
//   hybrid, product pairs 0.7, 4-grams ................. 0.963 / 0.987
// Small families gain most from product pairs (Firefox 0.69 → 0.85, Samsung Internet
// 0.50 → 0.67 of the reachable neighbours). Because version digits are masked, the 952 user
// agents collapse to 68 distinct vectors. Cost on the 2-core bench machine: ≈ 3-4 µs per
// embedding, ≈ 2 µs per keyed hash. Typical distances: Chrome on Android to other Chrome-on-
// Android builds 0.08-0.10, to Samsung Internet 0.22, to desktop Chrome 0.41, to iPhone Safari
// 0.60, to Firefox 0.73-0.83, to curl 0.94.
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { avalanche32, FNV_OFFSET, fnvStep } from '../hash32.js';

export const UA_EMBED_DIMS = 64;
/** Characters of the user agent that the embedding looks at. Real UAs are ~100-300 long. */
export const UA_EMBED_MAX_CHARS = 512;
/** Characters (UTF-16 code units) of the user agent fed to the keyed hash. */
export const UA_HASH_MAX_CHARS = 8192;
/** Hex characters kept from the HMAC-SHA256 digest (128 bits). */
export const UA_HASH_HEX_CHARS = 32;

/** Weights of the feature kinds. Exposed for the benchmark's comparisons. */
export interface UaEmbedWeights {
  /** A product token's name (outside parentheses). */
  readonly product: number;
  /** Two consecutive product tokens. */
  readonly productPair: number;
  /** A word inside parentheses. */
  readonly comment: number;
  /** A character n-gram of the masked string. */
  readonly ngram: number;
  /** n of the character n-grams (2..5); 0 disables them. */
  readonly ngramSize: number;
  /** Multiplier for boilerplate product tokens (mozilla, applewebkit, khtml, like, gecko). */
  readonly boilerplate: number;
}

/** The chosen weights (by measurement, see the header comment and UA_EMBED_MEASURED). */
export const DEFAULT_UA_EMBED_WEIGHTS: UaEmbedWeights = Object.freeze({
  product: 1,
  productPair: 1.2,
  comment: 0.8,
  ngram: 0.25,
  ngramSize: 3,
  boilerplate: 0.3,
});

// ---------------------------------------------------------------------------------------------
// Keyed hash

export type UaHasher = (ua: string) => string;

/**
 * Keyed HMAC-SHA256 of a user agent, hex, truncated to 32 characters (128 bits).
 * Only the first UA_HASH_MAX_CHARS characters are hashed: two user agents that agree on their
 * first 8,192 characters share a hash (Envoy's default header limit is 60 KB; no real browser
 * sends more than a few hundred characters).
 */
export function createUaHasher(key: Buffer | string): UaHasher {
  const keyObject: KeyObject = createSecretKey(typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key));
  return (ua: string): string => {
    const input = ua.length > UA_HASH_MAX_CHARS ? ua.slice(0, UA_HASH_MAX_CHARS) : ua;
    return createHmac('sha256', keyObject).update(input, 'utf8').digest('hex').slice(0, UA_HASH_HEX_CHARS);
  };
}

// ---------------------------------------------------------------------------------------------
// Embedding

// Distinct seeds per feature kind, so that the token "x" and the 3-gram "x" land apart.
const SEED_PRODUCT = 0x1b873593;
const SEED_PAIR = 0x2f5a1c3e;
const SEED_COMMENT = 0x5bd1e995;
const SEED_NGRAM = 0x68e31da4;
const SEED_EMPTY = 0x7f4a7c15;

const CH_HASH = 35; // '#', the digit-run mask
const CH_SPACE = 32;
const CH_SLASH = 47;
const CH_LPAREN = 40;
const CH_RPAREN = 41;
const CH_SEMI = 59;
const CH_COMMA = 44;

function isSpaceLike(c: number): boolean {
  // Controls, space, DEL and the C1 range count as separators.
  return c <= 32 || (c >= 127 && c <= 160);
}

const mix = fnvStep;
/** Final avalanche so that nearby hashes spread over dimensions and signs. */
const finish = avalanche32;

function hashCodes(s: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < s.length; i++) h = mix(h, s.charCodeAt(i));
  return h;
}

// Raw FNV-1a values of the boilerplate tokens (matched before seeding, in or out of parentheses).
export const UA_BOILERPLATE_TOKENS: readonly string[] = ['mozilla', 'applewebkit', 'khtml', 'like', 'gecko'];
const BOILERPLATE: ReadonlySet<number> = new Set(UA_BOILERPLATE_TOKENS.map(hashCodes));

// Scratch buffers: the embedder is synchronous and single-threaded, so one set is enough.
const masked = new Uint16Array(UA_EMBED_MAX_CHARS);
const acc = new Float64Array(UA_EMBED_DIMS);

function add(h: number, weight: number): void {
  // Low 6 bits pick the dimension, the top bit the sign.
  acc[h & (UA_EMBED_DIMS - 1)]! += (h & 0x80000000) !== 0 ? -weight : weight;
}

export type UaEmbedder = (ua: string) => Float32Array;

/** Features hashed by the last embedding (read by embedsToNothing, right after the call). */
let lastFeatureCount = 0;

/** An embedder with explicit weights (the benchmark compares schemes with it). */
export function createUaEmbedder(weights: UaEmbedWeights = DEFAULT_UA_EMBED_WEIGHTS): UaEmbedder {
  const { product, productPair, comment, ngram, ngramSize, boilerplate } = weights;
  const n = ngramSize >= 2 && ngramSize <= 5 ? ngramSize | 0 : 0;

  return (ua: string): Float32Array => {
    acc.fill(0);
    // 1. Lower-case ASCII letters, mask digit runs, fold separators to one space.
    const limit = ua.length < UA_EMBED_MAX_CHARS ? ua.length : UA_EMBED_MAX_CHARS;
    let len = 0;
    let prev = CH_SPACE;
    for (let i = 0; i < limit; i++) {
      let c = ua.charCodeAt(i);
      if (c >= 48 && c <= 57) {
        if (prev === CH_HASH) continue;
        c = CH_HASH;
      } else if (c >= 65 && c <= 90) {
        c += 32;
      } else if (isSpaceLike(c)) {
        if (prev === CH_SPACE) continue;
        c = CH_SPACE;
      }
      masked[len++] = c;
      prev = c;
    }
    while (len > 0 && masked[len - 1] === CH_SPACE) len--;

    // 2. Tokens: product names outside parentheses, words inside.
    let depth = 0;
    let tokenHash = FNV_OFFSET;
    let tokenLen = 0;
    let inVersion = false; // after the '/' of a product token: skip until the token ends
    let prevProduct = 0;
    let havePrevProduct = false;
    let features = 0;

    const endToken = (): void => {
      if (tokenLen > 0) {
        const scale = BOILERPLATE.has(tokenHash) ? boilerplate : 1;
        if (depth > 0) {
          add(finish(tokenHash ^ SEED_COMMENT), comment * scale);
        } else {
          const h = finish(tokenHash ^ SEED_PRODUCT);
          add(h, product * scale);
          if (havePrevProduct) add(finish(mix(prevProduct, h) ^ SEED_PAIR), productPair);
          prevProduct = h;
          havePrevProduct = true;
        }
        features++;
      }
      tokenHash = FNV_OFFSET;
      tokenLen = 0;
      inVersion = false;
    };

    for (let i = 0; i < len; i++) {
      const c = masked[i]!;
      if (c === CH_LPAREN) {
        endToken();
        depth++;
      } else if (c === CH_RPAREN) {
        endToken();
        if (depth > 0) depth--;
      } else if (c === CH_SPACE || (depth > 0 && (c === CH_SEMI || c === CH_COMMA))) {
        endToken();
      } else if (depth === 0 && c === CH_SLASH) {
        inVersion = true;
      } else if (!inVersion) {
        tokenHash = mix(tokenHash, c);
        tokenLen++;
      }
    }
    endToken();

    // 3. Character n-grams of the masked string.
    if (n > 0 && ngram > 0 && len >= n) {
      for (let i = 0; i + n <= len; i++) {
        let h = SEED_NGRAM;
        for (let j = 0; j < n; j++) h = mix(h, masked[i + j]!);
        add(finish(h), ngram);
        features++;
      }
    }

    lastFeatureCount = features;
    if (features === 0) add(finish(SEED_EMPTY), 1);

    // 4. L2 normalisation.
    let norm = 0;
    for (let d = 0; d < UA_EMBED_DIMS; d++) norm += acc[d]! * acc[d]!;
    const out = new Float32Array(UA_EMBED_DIMS);
    if (norm === 0) {
      // Features cancelled out exactly (possible in principle): fall back to the empty vector.
      out[finish(SEED_EMPTY) & (UA_EMBED_DIMS - 1)] = 1;
      return out;
    }
    const inv = 1 / Math.sqrt(norm);
    for (let d = 0; d < UA_EMBED_DIMS; d++) out[d] = acc[d]! * inv;
    return out;
  };
}

/** 64-d L2-normalised embedding of a user agent with the default scheme. Never throws. */
export const embedUserAgent: UaEmbedder = createUaEmbedder();

/**
 * True when the default embedding finds nothing in `ua` to hash (no token, too short for a
 * character n-gram: "", "/", "()", "  "). Every such string gets the same fixed vector, so as
 * a similarity exemplar it names no family at all; the flag schema refuses it.
 */
export function embedsToNothing(ua: string): boolean {
  // Shortcut: n characters that are neither digits nor separators survive masking, so they
  // make at least one n-gram (the flag schema asks this of every exemplar on every load).
  const n = DEFAULT_UA_EMBED_WEIGHTS.ngram > 0 ? DEFAULT_UA_EMBED_WEIGHTS.ngramSize : 0;
  if (n >= 2) {
    let kept = 0;
    const limit = ua.length < UA_EMBED_MAX_CHARS ? ua.length : UA_EMBED_MAX_CHARS;
    for (let i = 0; i < limit && kept < n; i++) {
      const c = ua.charCodeAt(i);
      if (!(c >= 48 && c <= 57) && !isSpaceLike(c)) kept++;
    }
    if (kept >= n) return false;
  }
  embedUserAgent(ua);
  return lastFeatureCount === 0;
}

/** Cosine distance of two L2-normalised vectors, clamped to [0, 2]. */
export function cosineDistance(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) dot += a[i]! * b[i]!;
  const d = 1 - dot;
  return d < 0 ? 0 : d > 2 ? 2 : d;
}

// ---------------------------------------------------------------------------------------------
// A bounded cache of recently used entries

/**
 * A bounded map that keeps what was used recently, at the cost of a native Map lookup
 * (lru-cache's bookkeeping costs several times that, which matters at a few µs per request).
 * Entries live in two generations: new ones go to the young map; when it holds half the
 * entries (or half the bytes) allowed, it becomes the old map and the previous old map is
 * dropped. A hit in the old map moves the entry back to the young one. So at most maxEntries
 * entries and about maxBytes bytes are held, and an entry used at least once per
 * maxEntries / 2 insertions is never evicted: an approximate LRU.
 */
export class RecentCache<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();
  private youngBytes = 0;
  private readonly half: number;
  private readonly halfBytes: number;

  constructor(
    maxEntries: number,
    maxBytes = Infinity,
    private readonly sizeOf: ((key: K, value: V) => number) | null = null,
  ) {
    this.half = Math.max(1, Math.floor(maxEntries / 2));
    this.halfBytes = maxBytes / 2;
  }

  get(key: K): V | undefined {
    const hit = this.young.get(key);
    if (hit !== undefined) return hit;
    const aged = this.old.get(key);
    if (aged !== undefined) {
      this.old.delete(key);
      this.set(key, aged);
    }
    return aged;
  }

  set(key: K, value: V): void {
    if (this.young.has(key)) {
      this.young.set(key, value);
      return;
    }
    this.old.delete(key);
    this.young.set(key, value);
    if (this.sizeOf !== null) this.youngBytes += this.sizeOf(key, value);
    if (this.young.size >= this.half || this.youngBytes >= this.halfBytes) {
      this.old = this.young;
      this.young = new Map();
      this.youngBytes = 0;
    }
  }

  get size(): number {
    return this.young.size + this.old.size;
  }

  clear(): void {
    this.young.clear();
    this.old.clear();
    this.youngBytes = 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Per-user-agent cache

export interface UaFeatures {
  /** Keyed hash (see createUaHasher). */
  readonly hash: string;
  /** The embedding; shared by every request with this user agent: read it, never write it. */
  readonly vector: Float32Array;
}

export interface UaFeatureCacheOptions {
  readonly key: Buffer | string;
  /** Entries kept (the least recently used go first, roughly: see RecentCache); default 10,000. */
  readonly maxEntries?: number;
  /** Bytes of cached user-agent strings and embeddings, at most; default 8 MiB. */
  readonly maxBytes?: number;
  readonly embed?: UaEmbedder;
}

export interface UaFeatureCache {
  /** Hash and embedding of a user agent; null for a missing or blank one. Never throws. */
  features(ua: string | undefined | null): UaFeatures | null;
  /** Entries currently cached. */
  readonly size: number;
  /** Entries it may hold at most (both of its caches together). */
  readonly capacity: number;
}

export const DEFAULT_UA_CACHE_SIZE = 10_000;
export const DEFAULT_UA_CACHE_BYTES = 8 * 1024 * 1024;
/**
 * User agents up to this long are cached by their own text (a hit costs one map lookup);
 * longer ones by their keyed hash (a hit costs the HMAC). Real user agents are 100-300 long.
 */
export const UA_CACHE_RAW_MAX_CHARS = 1024;

/**
 * True when the string has a character other than spaces and controls within the part that
 * is hashed (a header of 100 KB of spaces counts as blank without scanning all of it).
 */
function hasContent(ua: string): boolean {
  const n = ua.length < UA_HASH_MAX_CHARS ? ua.length : UA_HASH_MAX_CHARS;
  for (let i = 0; i < n; i++) if (!isSpaceLike(ua.charCodeAt(i))) return true;
  return false;
}

/** Bytes an entry holds: the key's characters (two bytes each, at worst) and the embedding. */
const ENTRY_OVERHEAD_BYTES = 160 + UA_EMBED_DIMS * 4;

/**
 * Hash and embed a user agent once, then serve it from a bounded cache of recent ones. A user
 * agent of usual length is looked up by its own text, so a repeated one costs no HMAC; the
 * text lives only in this process's memory, like the request headers it came from, and is
 * never logged, stored or sent anywhere: what leaves the extractor is the keyed hash. A very
 * long user agent (more than UA_CACHE_RAW_MAX_CHARS) is looked up by its keyed hash instead,
 * so the cache never holds a large string. Both caches are bounded in entries and bytes.
 */
export function createUaFeatureCache(opts: UaFeatureCacheOptions): UaFeatureCache {
  const hasher = createUaHasher(opts.key);
  const embed = opts.embed ?? embedUserAgent;
  const max =
    opts.maxEntries !== undefined && Number.isInteger(opts.maxEntries) && opts.maxEntries > 0
      ? opts.maxEntries
      : DEFAULT_UA_CACHE_SIZE;
  const maxBytes =
    opts.maxBytes !== undefined && Number.isFinite(opts.maxBytes) && opts.maxBytes > 0
      ? opts.maxBytes
      : DEFAULT_UA_CACHE_BYTES;
  const byText = new RecentCache<string, UaFeatures>(max, maxBytes, (key) => key.length * 2 + ENTRY_OVERHEAD_BYTES);
  const byHash = new RecentCache<string, UaFeatures>(Math.min(max, 1_000));
  return {
    features(ua: string | undefined | null): UaFeatures | null {
      if (typeof ua !== 'string' || ua.length === 0) return null;
      if (ua.length <= UA_CACHE_RAW_MAX_CHARS) {
        const hit = byText.get(ua);
        if (hit !== undefined) return hit;
        if (!hasContent(ua)) return null;
        const entry: UaFeatures = { hash: hasher(ua), vector: embed(ua) };
        byText.set(ua, entry);
        return entry;
      }
      if (!hasContent(ua)) return null;
      const hash = hasher(ua);
      const hit = byHash.get(hash);
      if (hit !== undefined) return hit;
      const entry: UaFeatures = { hash, vector: embed(ua) };
      byHash.set(hash, entry);
      return entry;
    },
    get size(): number {
      return byText.size + byHash.size;
    },
    capacity: max + Math.min(max, 1_000),
  };
}
