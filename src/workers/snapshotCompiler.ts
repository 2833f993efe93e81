// The sidecar's snapshot compile: flag definitions → Snapshot without holding the event loop
// (embedding pauses; the user-agent index is prepared in slices and its HNSW graph is left to
// be built on a worker thread when nearestPoints first needs it). The sidecar and the reload
// benchmark both compile through here, so the benchmark measures what a reload costs.
import { performance } from 'node:perf_hooks';
import { embedUserAgent } from '../features/userAgent.js';
import type { FlagDefinition } from '../flags/schema.js';
import { compileSnapshotAsync } from '../matcher/compile.js';
import type { Snapshot, SnapshotMeta } from '../matcher/snapshot.js';
import type { UaIndexParams } from '../matcher/uaIndex.js';
import { buildUaIndex } from '../matcher/uaIndexImpl.js';
import type { Logger } from '../telemetry/logger.js';
import { UaGraphBuilder } from './uaGraphBuilder.js';

export interface SnapshotCompiler {
  compile(flags: readonly FlagDefinition[], meta: SnapshotMeta): Promise<Snapshot>;
  /** Stops the graph thread (a pending graph is given up; queries stay exhaustive). */
  close(): Promise<void>;
}

export interface SnapshotCompilerOptions {
  readonly uaIndexParams: UaIndexParams;
  readonly logger: Logger;
  /** The snapshot being served: its UA index is reused when the exemplars did not change. */
  readonly previous: () => Snapshot | null;
}

export function createSnapshotCompiler(o: SnapshotCompilerOptions): SnapshotCompiler {
  const graphBuilder = new UaGraphBuilder({}, (err) =>
    o.logger.warn(
      { code: 'PROFLAG_ERR_WORKER', err: err.message },
      'user-agent graph build failed; nearest-neighbour queries stay exhaustive',
    ),
  );
  const uaIndexBuilder = { embed: embedUserAgent, build: buildUaIndex };
  return {
    async compile(flags, meta) {
      const started = performance.now();
      const snapshot = await compileSnapshotAsync(flags, meta, {
        uaIndexBuilder,
        buildUaIndexAsync: (inputs, params) => graphBuilder.build(inputs, params),
        uaIndexParams: o.uaIndexParams,
        previous: o.previous(),
      });
      o.logger.debug({ flags: snapshot.flags.length, ms: performance.now() - started }, 'snapshot compiled');
      return snapshot;
    },
    close: () => graphBuilder.close(),
  };
}
