// The one logger. Raw user agents and IPs must never reach it: the redact list is a second
// line of defence for fields that should not exist in the first place.
//
// Logs are JSON lines for machines. When stdout is a terminal (a person running `npm start`),
// they are printed readably by pino-pretty instead: loaded only then (a synchronous require, so
// a process that pipes its logs never loads it), writing synchronously to stdout so that lines
// keep their order with the process's own stderr messages.
import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  /** Human-readable lines instead of JSON (default: when stdout is a terminal and no destination is given). */
  readonly pretty?: boolean;
}

type PrettyFactory = (options: Record<string, unknown>) => pino.DestinationStream;

function prettyStream(destination: pino.DestinationStream | undefined): pino.DestinationStream {
  const require = createRequire(import.meta.url);
  const pretty = require('pino-pretty') as PrettyFactory;
  return pretty({
    colorize: destination === undefined,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service',
    sync: true,
    ...(destination ? { destination } : {}),
  });
}

export function createLogger(level: string, destination?: pino.DestinationStream, options: LoggerOptions = {}): Logger {
  const loggerOptions: pino.LoggerOptions = {
    level,
    base: { service: 'proflag' },
    redact: {
      paths: ['userAgent', '*.userAgent', 'ip', '*.ip', 'headers', '*.headers'],
      censor: '[redacted]',
    },
  };
  const pretty = options.pretty ?? (destination === undefined && process.stdout.isTTY === true);
  if (pretty) return pino(loggerOptions, prettyStream(destination));
  return destination ? pino(loggerOptions, destination) : pino(loggerOptions);
}
