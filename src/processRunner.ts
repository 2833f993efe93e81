// What both entry points (the sidecar and the fleet learner) do as processes: read and validate
// the configuration, build the logger, end cleanly on SIGTERM/SIGINT, and exit with a clear
// code on a bad configuration (2), a failed start or shutdown (1) or a bug (70). The only
// process.exit calls of the code base live here.
import { ConfigError, loadConfig, unknownVariables, type Config } from './config/config.js';
import { createLogger, type Logger } from './telemetry/logger.js';

export interface RunningProcess {
  /** Stop everything; the process exits 0 when it resolves, 1 when it rejects. */
  stop(): Promise<void>;
}

export function runProcess(program: string, start: (config: Config, logger: Logger) => Promise<RunningProcess>): void {
  // A bug in a timer or callback must not leave a half-working process behind: exit non-zero
  // so the orchestrator restarts it (Envoy fails open meanwhile).
  process.on('uncaughtException', (err) => {
    process.stderr.write(`${program}: uncaught exception: ${err.stack ?? err.message}\n`);
    process.exit(70);
  });

  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${program}: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  for (const hint of unknownVariables(process.env)) logger.warn(hint);

  start(config, logger).then(
    (running) => {
      let signalled = false;
      const shutdown = (signal: string) => {
        if (signalled) {
          logger.warn({ signal }, 'second signal: exiting now');
          process.exit(1);
        }
        signalled = true;
        logger.info({ signal }, 'shutting down');
        running.stop().then(
          () => process.exit(0),
          (err: Error) => {
            logger.error({ err: err.message }, 'unclean shutdown');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      process.on('SIGINT', () => shutdown('SIGINT'));
    },
    (err: Error) => {
      process.stderr.write(`${program}: failed to start: ${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
