// Benchmark-only: the learner on a worker thread, fed batches of encoded samples (the fleet
// format) by postMessage. Used by bench/learner.bench.ts to compare the hot-path cost of handing
// samples to a worker with learning in-process.
import { parentPort } from 'node:worker_threads';
import { Learner } from '../../src/learner/learner.js';
import { decodeSample } from '../../src/learner/sampleCodec.js';

const learner = new Learner({});
let observed = 0;
parentPort!.on('message', (msg: { batch?: string[]; report?: boolean }) => {
  if (msg.batch) {
    for (const text of msg.batch) {
      const s = decodeSample(text);
      if (s === null) continue;
      learner.observe(s.profile, s.timeMs);
      observed++;
    }
  }
  if (msg.report) parentPort!.postMessage({ observed });
});
