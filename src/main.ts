#!/usr/bin/env node
// Entry point of the sidecar: configuration, logger and signals come from runProcess.
// PROFLAG_WORKERS=1 (the default) is one process; with more, this same file runs as the
// cluster's primary (admin port, learner, supervision) and as each worker (a whole sidecar).
import cluster from 'node:cluster';
import { startPrimary } from './cluster/primary.js';
import { startWorker } from './cluster/worker.js';
import { runProcess } from './processRunner.js';
import { startSidecar } from './sidecar.js';

runProcess(
  'proflag',
  async (config, logger, control) => {
    if (config.workers > 1) {
      return cluster.isPrimary ? startPrimary(config, logger) : startWorker(config, logger, control);
    }
    const sidecar = await startSidecar(config, { logger });
    return { stop: () => sidecar.stop(5_000) };
  },
  { configHints: cluster.isPrimary },
);
