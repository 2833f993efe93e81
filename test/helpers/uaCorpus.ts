// The distinct real user agents shipped by the `user-agents` package, labelled with
// ua-parser-js 1.x (MIT; 2.x is AGPL and must not be used). Test and benchmark use only:
// both packages are devDependencies.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface LabelledUa {
  readonly ua: string;
  /** Browser family by ua-parser-js, null when it does not know. */
  readonly browser: string | null;
  /** OS family by ua-parser-js, null when it does not know. */
  readonly os: string | null;
}

interface UaParserResult {
  browser: { name?: string };
  os: { name?: string };
}
type UaParserCtor = new (ua: string) => { getResult(): UaParserResult };

let cached: readonly LabelledUa[] | null = null;

/** Distinct user agents in the package's order (first occurrence), with labels. */
export function loadUaCorpus(): readonly LabelledUa[] {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  // The package's exports map hides the JSON; it sits next to the CommonJS entry point.
  const file = join(dirname(require.resolve('user-agents')), 'user-agents.json');
  const rows = JSON.parse(readFileSync(file, 'utf8')) as { userAgent: string }[];
  const UAParser = require('ua-parser-js') as UaParserCtor;
  const seen = new Set<string>();
  const out: LabelledUa[] = [];
  for (const row of rows) {
    if (typeof row.userAgent !== 'string' || seen.has(row.userAgent)) continue;
    seen.add(row.userAgent);
    const r = new UAParser(row.userAgent).getResult();
    out.push({ ua: row.userAgent, browser: r.browser.name ?? null, os: r.os.name ?? null });
  }
  cached = out;
  return out;
}

export interface UaQuality {
  /** Share of the 10 nearest neighbours with the query's browser family (both labels known). */
  readonly sameBrowser: number;
  /** Share of the 10 nearest neighbours with the query's OS family (both labels known). */
  readonly sameOs: number;
  /** The same, counting an unknown label on either side as a mismatch. */
  readonly sameBrowserAll: number;
  readonly sameOsAll: number;
  readonly queries: number;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Exact k nearest neighbours (by cosine) of every vector among the others; ties by index. */
export function exactNeighbours(vectors: readonly Float32Array[], k: number): Int32Array[] {
  const n = vectors.length;
  const out: Int32Array[] = [];
  const sims = new Float64Array(n);
  const order = new Int32Array(n);
  for (let q = 0; q < n; q++) {
    for (let j = 0; j < n; j++) {
      sims[j] = j === q ? -Infinity : dot(vectors[q]!, vectors[j]!);
      order[j] = j;
    }
    order.sort((a, b) => sims[b]! - sims[a]! || a - b);
    out.push(order.slice(0, Math.min(k, n - 1)));
  }
  return out;
}

/** The 10-NN label agreement of an embedding over the corpus. */
export function measureUaQuality(
  corpus: readonly LabelledUa[],
  embed: (ua: string) => Float32Array,
  k = 10,
): UaQuality {
  const vectors = corpus.map((c) => embed(c.ua));
  const nn = exactNeighbours(vectors, k);
  let b = 0;
  let bn = 0;
  let o = 0;
  let on = 0;
  let bAll = 0;
  let oAll = 0;
  let all = 0;
  for (let q = 0; q < corpus.length; q++) {
    const query = corpus[q]!;
    for (const j of nn[q]!) {
      const other = corpus[j]!;
      all++;
      if (query.browser !== null && other.browser !== null) {
        bn++;
        if (query.browser === other.browser) {
          b++;
          bAll++;
        }
      }
      if (query.os !== null && other.os !== null) {
        on++;
        if (query.os === other.os) {
          o++;
          oAll++;
        }
      }
    }
  }
  return {
    sameBrowser: bn ? b / bn : 0,
    sameOs: on ? o / on : 0,
    sameBrowserAll: all ? bAll / all : 0,
    sameOsAll: all ? oAll / all : 0,
    queries: corpus.length,
  };
}

/** A small deterministic PRNG (LCG) for reproducible synthetic data. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * `count` user agents with pairwise distinct embeddings: real ones from the corpus with a
 * random device-model-like word added to their first comment (`; ABCD-efgh`). Used to build
 * indexes of realistic shape but arbitrary size (the real corpus has few distinct vectors
 * once version digits are masked).
 */
export function syntheticUserAgents(
  corpus: readonly Pick<LabelledUa, 'ua'>[],
  count: number,
  embed: (ua: string) => Float32Array,
  seed = 1,
): { readonly uas: string[]; readonly vectors: Float32Array[] } {
  const rnd = lcg(seed);
  const word = (): string => {
    let w = '';
    const n = 3 + Math.floor(rnd() * 6);
    for (let i = 0; i < n; i++) w += String.fromCharCode(97 + Math.floor(rnd() * 26));
    return w;
  };
  const uas: string[] = [];
  const vectors: Float32Array[] = [];
  const keys = new Set<string>();
  let guard = count * 20;
  while (uas.length < count && guard-- > 0) {
    const base = corpus[Math.floor(rnd() * corpus.length)]!.ua;
    const close = base.indexOf(')');
    const ua =
      close < 0
        ? `${base} ${word()}`
        : `${base.slice(0, close)}; ${word().toUpperCase()}-${word()}${base.slice(close)}`;
    const v = embed(ua);
    const key = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
    if (keys.has(key)) continue;
    keys.add(key);
    uas.push(ua);
    vectors.push(v);
  }
  return { uas, vectors };
}

/** Distinct vectors (by exact bytes) of a list, in first-seen order. */
export function distinctVectors(vectors: readonly Float32Array[]): Float32Array[] {
  const seen = new Set<string>();
  const out: Float32Array[] = [];
  for (const v of vectors) {
    const key = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(v);
  }
  return out;
}
