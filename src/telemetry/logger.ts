// The one logger. Raw user agents and IPs must never reach it: the redact list is a second
// line of defence for fields that should not exist in the first place.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'proflag' },
    redact: {
      paths: ['userAgent', '*.userAgent', 'ip', '*.ip', 'headers', '*.headers'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
