// What every entry point (the sidecar, its cluster primary and workers, the fleet learner) does
// as a process: read and validate the configuration, build the logger, end cleanly on
// SIGTERM/SIGINT, and exit with a clear code on a bad configuration (2), a failed start or
// shutdown (1) or a bug (70). The only process.exit calls of the code base live here.
import { ConfigError, loadConfig, unknownVariables, type Config } from './config/config.js';
import { createLogger, type Logger } from './telemetry/logger.js';

type StopSignal = 'SIGTERM' | 'SIGINT';

export interface RunningProcess {
  /** Stop everything; the process exits 0 when it resolves, 1 when it rejects. */
  stop(): Promise<void>;
  /** On a second signal, just before exiting at once (a cluster primary kills its workers). */
  abort?(): void;
  /**
   * The signals that start the shutdown (default both). A cluster worker takes only SIGTERM
   * and ignores SIGINT: Ctrl-C reaches the whole process group, and the primary drains its
   * workers itself.
   */
  readonly signals?: readonly StopSignal[];
}

/** Handed to `start`: begin the clean shutdown from inside (as SIGTERM would). */
export interface ProcessControl {
  /** Idempotent; never counts as a second signal. Before start resolves, stops right after. */
  shutdown(reason: string): void;
}

export interface RunProcessOptions {
  /** Warn about unknown PROFLAG_* variables (default true; cluster workers leave it to the primary). */
  readonly configHints?: boolean;
}

export function runProcess(
  program: string,
  start: (config: Config, logger: Logger, control: ProcessControl) => Promise<RunningProcess>,
  options: RunProcessOptions = {},
): void {
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
  if (options.configHints ?? true) for (const hint of unknownVariables(process.env)) logger.warn(hint);

  let running: RunningProcess | null = null;
  let stopRequested: string | null = null;
  let stopping = false;

  const beginStop = (reason: string): void => {
    if (stopping || running === null) return;
    stopping = true;
    logger.info({ reason }, 'shutting down');
    running.stop().then(
      () => process.exit(0),
      (err: Error) => {
        logger.error({ err: err.message }, 'unclean shutdown');
        process.exit(1);
      },
    );
  };

  const control: ProcessControl = {
    shutdown(reason) {
      stopRequested ??= reason;
      beginStop(reason);
    },
  };

  start(config, logger, control).then(
    (started) => {
      running = started;
      const onSignal = (signal: StopSignal) => {
        if (stopping) {
          logger.warn({ signal }, 'second signal: exiting now');
          started.abort?.();
          process.exit(1);
        }
        beginStop(signal);
      };
      const signals = started.signals ?? ['SIGTERM', 'SIGINT'];
      for (const signal of ['SIGTERM', 'SIGINT'] as const) {
        // A listener, even an empty one, keeps Node from ending the process on that signal.
        process.on(signal, signals.includes(signal) ? () => onSignal(signal) : () => {});
      }
      if (stopRequested !== null) beginStop(stopRequested);
    },
    (err: Error) => {
      process.stderr.write(`${program}: failed to start: ${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
