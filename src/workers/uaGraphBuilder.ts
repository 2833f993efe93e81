// Builds large user-agent HNSW graphs on a worker thread. The graph serves only nearestPoints
// (never a decision), so a snapshot compile does not build it at all: the index asks for it
// the first time nearestPoints needs it and answers exhaustively (exact, slower) until it is
// ready. Inserting 10,000 distinct exemplars takes ~0.5 s, more than Envoy's 200 ms message
// timeout, so it must not run on the event loop: the worker builds the graph and writes it to
// a temporary file; this thread loads it with hnswlib's asynchronous reader and deletes the
// file. Small sets are built in place when first asked for: a worker round trip costs more.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  assembleUaIndex,
  graphBuildParams,
  HierarchicalNSW,
  prepareUaIndexAsync,
  type PreparedUaIndex,
  type UaIndexOptions,
  type UaIndexWithDiagnostics,
} from '../matcher/uaIndexImpl.js';
import type { UaIndexParams, UaRangeInput } from '../matcher/uaIndex.js';

/** Below this many distinct points the graph is built in place (≈ 25 ms at 500 points). */
export const OFF_THREAD_MIN_POINTS = 500;

// Plain CommonJS, evaluated in the worker: no TypeScript loader needed there.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { HierarchicalNSW } = require(workerData.hnswlibPath);
parentPort.on('message', (job) => {
  try {
    const graph = new HierarchicalNSW('cosine', job.dim);
    graph.initIndex({ maxElements: job.n, m: job.m, efConstruction: job.efConstruction, randomSeed: job.randomSeed });
    const point = new Array(job.dim).fill(0);
    for (let p = 0; p < job.n; p++) {
      for (let i = 0; i < job.dim; i++) point[i] = job.points[p * job.dim + i];
      graph.addPoint(point, p);
    }
    graph.writeIndexSync(job.file);
    parentPort.postMessage({ id: job.id, ok: true });
  } catch (err) {
    parentPort.postMessage({ id: job.id, ok: false, error: String(err && err.message || err) });
  }
});
`;

interface Pending {
  resolve(): void;
  reject(err: Error): void;
}

export class UaGraphBuilder {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private readonly dir = mkdtempSync(join(tmpdir(), 'proflag-ua-'));

  /** onGraphError: a lazy graph build failed (nearestPoints stays exhaustive). */
  constructor(
    private readonly options: UaIndexOptions = {},
    private readonly onGraphError: (err: Error) => void = () => {},
  ) {}

  /**
   * The index of a snapshot's ranges, without its graph: that is built when nearestPoints
   * first needs it (large graphs on the worker thread).
   */
  async build(inputs: readonly UaRangeInput[], params: UaIndexParams): Promise<UaIndexWithDiagnostics> {
    const prepared = await prepareUaIndexAsync(inputs);
    if (prepared.n < OFF_THREAD_MIN_POINTS) return assembleUaIndex(prepared, { kind: 'sync' }, params, this.options);
    return assembleUaIndex(
      prepared,
      {
        kind: 'async',
        build: (p) =>
          this.buildGraph(p, params).catch((err: Error) => {
            this.onGraphError(err);
            throw err;
          }),
      },
      params,
      this.options,
    );
  }

  /** Build the graph of prepared points on the worker thread and load it here. */
  async buildGraph(prepared: PreparedUaIndex, params: UaIndexParams): Promise<HierarchicalNSW> {
    if (this.closed) throw new Error('graph builder closed');
    const id = this.nextId++;
    const file = join(this.dir, `graph-${process.pid}-${id}.bin`);
    try {
      await this.run(id, {
        id,
        file,
        dim: prepared.dim,
        n: prepared.n,
        points: Float32Array.from(prepared.points),
        ...graphBuildParams(params, this.options),
      });
      const graph = new HierarchicalNSW('cosine', prepared.dim);
      await graph.readIndex(file);
      return graph;
    } finally {
      rmSync(file, { force: true });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = null;
    for (const p of this.pending.values()) p.reject(new Error('graph builder closed'));
    this.pending.clear();
    if (worker) await worker.terminate();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private run(id: number, job: Record<string, unknown> & { points: Float32Array }): Promise<void> {
    const worker = this.ensureWorker();
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage(job, [job.points.buffer as ArrayBuffer]);
    });
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const hnswlibPath = createRequire(import.meta.url).resolve('hnswlib-node');
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { hnswlibPath } });
    // The worker is idle between builds; it must not keep the process alive.
    worker.unref();
    worker.on('message', (msg: { id: number; ok: boolean; error?: string }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve();
      else p.reject(new Error(msg.error ?? 'graph build failed'));
    });
    const fail = (err: Error) => {
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      this.worker = null;
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (this.pending.size > 0) fail(new Error(`graph worker exited with code ${code}`));
      this.worker = null;
    });
    this.worker = worker;
    return worker;
  }
}
