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
export function measureUaQuality(corpus: readonly LabelledUa[], embed: (ua: string) => Float32Array, k = 10): UaQuality {
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
