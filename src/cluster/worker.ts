// One cluster worker (PROFLAG_WORKERS > 1): a whole sidecar (store connection, snapshot,
// change feed, gRPC listener on the shared port) without an admin port. It answers the
// primary's admin topics over IPC, forwards its learning samples to the primary's learner,
// and drains like a single process when the primary says stop (or is gone).
import type { Config } from '../config/config.js';
import { startLearning } from '../learner/learning.js';
import type { ProcessControl, RunningProcess } from '../processRunner.js';
import { startSidecar } from '../sidecar.js';
import type { Logger } from '../telemetry/logger.js';
import { answerAsk, isPrimaryMessage, type WorkerMessage } from './ipc.js';
import { learnsInPrimary, startSampleForwarding } from './samples.js';

function sendToPrimary(msg: WorkerMessage, done?: () => void): boolean {
  if (!process.connected || typeof process.send !== 'function') {
    done?.();
    return false;
  }
  try {
    return process.send(msg, undefined, undefined, () => done?.());
  } catch {
    done?.();
    return false;
  }
}

export async function startWorker(config: Config, logger: Logger, control: ProcessControl): Promise<RunningProcess> {
  // The primary logs which slot runs which pid ("worker serving"); the pid ties the two.
  const log = logger.child({ pid: process.pid });
  // Listen first: a stop may come while the sidecar is still starting.
  let serving: Parameters<typeof answerAsk>[0] | null = null;
  process.on('message', (msg: unknown) => {
    if (!isPrimaryMessage(msg)) return;
    if (msg.proflag === 'stop') {
      control.shutdown('the primary asked');
      return;
    }
    if (serving === null) {
      sendToPrimary({ proflag: 'answer', id: msg.id, ok: false, error: 'worker still starting' });
      return;
    }
    void answerAsk(serving, msg).then((answer) => sendToPrimary(answer));
  });
  // The primary is gone (killed): nobody supervises this worker any more.
  process.on('disconnect', () => control.shutdown('the primary is gone'));

  const sidecar = await startSidecar(config, {
    logger: log,
    admin: false,
    startLearning: (deps) =>
      learnsInPrimary(config, deps.storeKind)
        ? startSampleForwarding(config, deps, sendToPrimary)
        : startLearning(config, deps),
  });
  serving = sidecar.serving;
  sendToPrimary({ proflag: 'up', grpcPort: sidecar.grpcPort, pid: process.pid });
  return { stop: () => sidecar.stop(5_000), signals: ['SIGTERM'] };
}
