#!/usr/bin/env node
// Entry point: configuration, logger, the sidecar, signals. The only process.exit lives here.
import { ConfigError, loadConfig, unknownVariables } from './config/config.js';
import { startSidecar } from './sidecar.js';
import { createLogger } from './telemetry/logger.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`proflag: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  for (const hint of unknownVariables(process.env)) logger.warn(hint);

  const sidecar = await startSidecar(config, { logger });

  let signalled = false;
  const shutdown = (signal: string) => {
    if (signalled) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    signalled = true;
    logger.info({ signal }, 'shutting down');
    sidecar.stop(5_000).then(
      () => process.exit(0),
      (err: Error) => {
        logger.error({ err: err.message }, 'unclean shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

// A bug in a timer or callback must not leave a half-working sidecar behind: log it and
// exit non-zero so the orchestrator restarts us (Envoy fails open meanwhile).
process.on('uncaughtException', (err) => {
  process.stderr.write(`proflag: uncaught exception: ${err.stack ?? err.message}\n`);
  process.exit(70);
});

main().catch((err: Error) => {
  process.stderr.write(`proflag: failed to start: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
