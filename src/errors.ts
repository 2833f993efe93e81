// One registry of stable error codes. Logs, metrics and docs use the code, never the
// message text; test/unit/errors.test.ts keeps this list and docs/errors.md in step.

export const ERROR_CODES = {
  PROFLAG_ERR_CONFIG: 'a configuration value is missing or wrong; the sidecar does not start',
  PROFLAG_ERR_FLAG_INVALID: 'a flag document failed validation; it is skipped and the others serve',
  PROFLAG_ERR_STORE_UNAVAILABLE: 'the flag store cannot be reached; the last good snapshot keeps serving',
  PROFLAG_ERR_STORE_AUTH:
    'Redis refused the credentials or the TLS handshake; the last good snapshot keeps serving, /readyz says why',
  PROFLAG_ERR_CHANGE_REFUSED: 'a change through the atomic change path was refused; nothing was written',
  PROFLAG_ERR_DATA_LOSS: 'Redis came back without proflag:version; the last snapshot keeps serving',
  PROFLAG_ERR_PROTOCOL: 'Envoy sent a message proflag cannot use; the request continues unchanged',
  PROFLAG_ERR_DECISION: 'evaluating a request failed; the request continues unchanged',
  PROFLAG_ERR_LEARNER:
    'the learner could not write a proposal or publish or read samples; it drops that work and goes on',
  PROFLAG_ERR_EXPERIMENT:
    'experiment counts could not be flushed or read, or a tripped guardrail could not be applied; kept and retried',
  PROFLAG_ERR_WORKER:
    'a worker process (PROFLAG_WORKERS) or the user-agent graph thread failed; it is replaced, the rest keeps serving',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ProflagError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ProflagError';
  }
}

export function errorCodeOf(err: unknown): ErrorCode | 'UNKNOWN' {
  return err instanceof ProflagError ? err.code : 'UNKNOWN';
}
