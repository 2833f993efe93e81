// The console's changes go through the shared atomic change path (src/changes/, TEAM.md
// interface 3): the same Lua scripts as `scripts/ffr`, so the same guarantees (checks before
// the first write, INCR <prefix>version, PUBLISH <prefix>changes, XADD <prefix>audit) and the
// same audit fields, with `who` = console. This module only turns the change path's refusals
// into the console API's answers.
import { ChangeRefused } from '../changes/index.js';
import { HttpError } from './apiHttp.js';

const STATUS: Record<ChangeRefused['refusal'], [number, string]> = {
  invalid: [400, 'invalid'],
  'not-found': [404, 'not-found'],
  exists: [409, 'exists'],
  conflict: [409, 'conflict'],
  'bad-input': [400, 'bad-request'],
};

/** "path: message" lines → [{path, message}] (what the page lists under a refusal). */
function issuesOf(problems: readonly string[]): Array<{ path: string; message: string }> {
  return problems.map((p) => {
    const colon = p.indexOf(': ');
    return colon > 0 ? { path: p.slice(0, colon), message: p.slice(colon + 2) } : { path: '', message: p };
  });
}

/** The HTTP answer for an error the change path threw (other errors pass through unchanged). */
export function changeError(err: unknown): unknown {
  if (!(err instanceof ChangeRefused)) return err;
  const [status, code] = STATUS[err.refusal];
  const message = err.refusal === 'invalid' ? `refused, nothing changed: ${err.message}` : err.message;
  return new HttpError(status, message, code, err.problems.length > 0 ? issuesOf(err.problems) : undefined);
}

/** Runs one change, answering a refusal with its HTTP status and code. */
export async function throughChangePath<T>(change: () => Promise<T>): Promise<T> {
  try {
    return await change();
  } catch (err) {
    throw changeError(err);
  }
}
