#!/usr/bin/env node
// Entry point of the sidecar: configuration, logger and signals come from runProcess.
import { runProcess } from './processRunner.js';
import { startSidecar } from './sidecar.js';

runProcess('proflag', async (config, logger) => {
  const sidecar = await startSidecar(config, { logger });
  return { stop: () => sidecar.stop(5_000) };
});
