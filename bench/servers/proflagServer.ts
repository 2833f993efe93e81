// The server under test of the throughput bench: proflag's gRPC edge, stream state machine and
// request processor with the bench's 1,000-flag snapshot (10,000 UA exemplars), as main.ts
// wires them, minus the store and the learner. Run as a child: `node --import tsx <this file>`.
import { pino } from 'pino';
import { createStreamHandler } from '../../src/extproc/stream.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { buildRequestProcessor, buildSnapshot, loadFixtures } from '../lib/fixtures.js';
import { serveForBench } from './harness.js';

const fx = loadFixtures();
const { snapshot } = buildSnapshot(fx.flags);
const metrics = createMetrics({ defaultMetrics: false });
const processRequestHeaders = buildRequestProcessor(snapshot, fx.geo, metrics);
const handleStream = createStreamHandler({ processRequestHeaders, metrics, logger: pino({ level: 'silent' }) });
await serveForBench(handleStream, metrics);
