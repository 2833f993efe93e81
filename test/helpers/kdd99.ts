// Loader of the KDD Cup 1999 HTTP subset (../shared/data/kdd99_http.csv.xz, see its README):
// 567,498 connection records in stream order, three log-scaled numeric columns and a 0/1 attack
// label. The file is shared data, never copied into the repository: it is read from
// $PROFLAG_SHARED_DATA/kdd99_http.csv.xz or <repo>/../shared/data/kdd99_http.csv.xz and
// decompressed by the system `xz -dc` (an optional pure-JS decoder, `xz-decompress`, is tried
// when the xz binary is missing). Test and benchmark use only.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
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

/** Why the data cannot be used here, or null when it can (for `describe.skipIf` messages). */
export function kdd99Unavailable(): string | null {
  const file = kdd99Path();
  if (!existsSync(file)) return `KDD99 HTTP data not found at ${file} (set PROFLAG_SHARED_DATA to its folder)`;
  if (spawnSync('xz', ['--version'], { stdio: 'ignore' }).error === undefined) return null;
  try {
    createRequire(import.meta.url).resolve('xz-decompress');
    return null;
  } catch {
    return 'no xz decoder: install the xz binary (or the npm package xz-decompress)';
  }
}

function xzDecompress(file: string): Promise<Buffer> {
  return new Promise((ok, fail) => {
    const child = spawn('xz', ['-dc', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('error', fail);
    child.once('close', (code) =>
      code === 0 ? ok(Buffer.concat(chunks)) : fail(new Error(`xz -dc exited ${code}: ${err.trim()}`)),
    );
  });
}

async function jsDecompress(file: string): Promise<Buffer> {
  // Optional dependency (MIT, WebAssembly, no native code), resolved at run time only when the
  // xz binary is missing; not installed by default.
  type XzCtor = new (s: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>;
  const name = 'xz-decompress';
  let Xz: XzCtor | undefined;
  try {
    const mod = (await import(name)) as { XzReadableStream?: XzCtor; default?: { XzReadableStream?: XzCtor } };
    Xz = mod.XzReadableStream ?? mod.default?.XzReadableStream;
  } catch {
    Xz = undefined;
  }
  if (Xz === undefined)
    throw new Error(`neither the xz binary nor the npm package ${name} is available to read ${file}`);
  const source = new Blob([readFileSync(file)]).stream() as ReadableStream<Uint8Array>;
  return Buffer.from(await new Response(new Xz(source)).arrayBuffer());
}

async function decompress(file: string): Promise<Buffer> {
  try {
    return await xzDecompress(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return jsDecompress(file);
    throw e;
  }
}

let full: Promise<Kdd99> | null = null;

/** Parse the CSV (header, then `index,duration,src_bytes,dst_bytes,label`). */
export function parseKdd99(text: string): Kdd99 {
  const lines = text.split('\n');
  const max = Math.max(0, lines.length - 1);
  const x = new Float64Array(max * 3);
  const labels = new Uint8Array(max);
  let n = 0;
  for (let i = 1; i < lines.length; i++) {
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
  return { n, x: x.subarray(0, n * 3), labels: labels.subarray(0, n) };
}

/**
 * Records [start, start + count) in stream order (views into one parsed copy, cached for the
 * process). Throws when the file is missing: check `kdd99Unavailable()` first.
 */
export async function loadKdd99(options: { start?: number; count?: number } = {}): Promise<Kdd99> {
  full ??= decompress(kdd99Path()).then((b) => parseKdd99(b.toString('latin1')));
  const all = await full;
  const start = Math.min(all.n, Math.max(0, options.start ?? 0));
  const end = Math.min(all.n, start + (options.count ?? all.n));
  return { n: end - start, x: all.x.subarray(start * 3, end * 3), labels: all.labels.subarray(start, end) };
}
