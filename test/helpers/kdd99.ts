// Loader of the KDD Cup 1999 HTTP subset (../shared/data/kdd99_http.csv.xz, see its README):
// 567,498 connection records in stream order, three log-scaled numeric columns and a 0/1 attack
// label. The file is shared data, never copied into the repository: it is read from
// $PROFLAG_SHARED_DATA/kdd99_http.csv.xz or <repo>/../shared/data/kdd99_http.csv.xz and
// decompressed by the system `xz -dc` (an optional pure-JS decoder, `xz-decompress`, is tried
// when the xz binary is missing). Test and benchmark use only.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const KDD99_FILE = 'kdd99_http.csv.xz';

export interface Kdd99 {
  /** Records loaded. */
  readonly n: number;
  /** Row-major n × 3: duration, src_bytes, dst_bytes (natural log of value + 0.1). */
  readonly x: Float64Array;
  /** 1 = attack. */
  readonly labels: Uint8Array;
}

/** Absolute path of the data file (it may not exist). */
export function kdd99Path(): string {
  const dir = process.env.PROFLAG_SHARED_DATA;
  if (dir !== undefined && dir !== '') return resolve(dir, KDD99_FILE);
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  return join(repoRoot, '..', 'shared', 'data', KDD99_FILE);
}

/** Why the data cannot be used here, or null when it can (for `it.skipIf` messages). */
export function kdd99Unavailable(): string | null {
  const file = kdd99Path();
  return existsSync(file) ? null : `KDD99 HTTP data not found at ${file} (set PROFLAG_SHARED_DATA to its folder)`;
}

function xzDecompress(file: string): Promise<Buffer> {
  return new Promise((ok, fail) => {
    const child = spawn('xz', ['-dc', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('error', fail);
    child.once('close', (code) => (code === 0 ? ok(Buffer.concat(chunks)) : fail(new Error(`xz -dc exited ${code}: ${err.trim()}`))));
  });
}

async function jsDecompress(file: string): Promise<Buffer> {
  // Optional dependency, resolved at run time only when the xz binary is missing.
  const name = 'xz-decompress';
  let mod: { XzReadableStream: new (s: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array> };
  try {
    mod = (await import(name)) as typeof mod;
  } catch {
    throw new Error(`neither the xz binary nor the npm package ${name} is available to read ${file}`);
  }
  const bytes = readFileSync(file);
  const source = new Blob([bytes]).stream() as ReadableStream<Uint8Array>;
  return Buffer.from(await new Response(new mod.XzReadableStream(source)).arrayBuffer());
}

async function decompress(file: string): Promise<Buffer> {
  try {
    return await xzDecompress(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return jsDecompress(file);
    throw e;
  }
}

const cache = new Map<number, Kdd99>();

/** Parse the CSV (header, then `index,duration,src_bytes,dst_bytes,label`), at most `limit` records. */
export function parseKdd99(text: string, limit = Infinity): Kdd99 {
  const lines = text.split('\n');
  const max = Math.min(limit, Math.max(0, lines.length - 1));
  const x = new Float64Array(max * 3);
  const labels = new Uint8Array(max);
  let n = 0;
  for (let i = 1; i < lines.length && n < max; i++) {
    const line = lines[i]!;
    if (line.length === 0) continue;
    const f = line.split(',');
    if (f.length < 5) throw new Error(`kdd99: line ${i + 1} has ${f.length} fields`);
    x[n * 3] = Number(f[1]);
    x[n * 3 + 1] = Number(f[2]);
    x[n * 3 + 2] = Number(f[3]);
    labels[n] = Number(f[4]) === 1 ? 1 : 0;
    n++;
  }
  return { n, x: n * 3 === x.length ? x : x.slice(0, n * 3), labels: n === labels.length ? labels : labels.slice(0, n) };
}

/** Load (and cache per limit) the first `limit` records in stream order. */
export async function loadKdd99(limit = Infinity): Promise<Kdd99> {
  const hit = cache.get(limit);
  if (hit) return hit;
  const data = parseKdd99((await decompress(kdd99Path())).toString('latin1'), limit);
  cache.set(limit, data);
  return data;
}
