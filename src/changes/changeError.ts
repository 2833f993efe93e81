// Why a change through the atomic change path was refused. Nothing was written: every check
// (ours and the Lua script's) comes before the first write.
import { ProflagError } from '../errors.js';

export type ChangeRefusal =
  /** The document failed the checks (JSON, name, schema); `problems` lists them. */
  | 'invalid'
  /** The flag or proposal does not exist (or no longer). */
  | 'not-found'
  /** approve: a flag of that name exists (and force was not given). */
  | 'exists'
  /** compare-and-set: the document kept changing under us for every attempt. */
  | 'conflict'
  /** Redis refused the script's arguments (a bug in the caller, or a hand-made redis-cli call). */
  | 'bad-input';

export class ChangeRefused extends ProflagError {
  constructor(
    readonly refusal: ChangeRefusal,
    message: string,
    /** One line per problem (for `invalid`). */
    readonly problems: readonly string[] = [],
  ) {
    super('PROFLAG_ERR_CHANGE_REFUSED', message);
    this.name = 'ChangeRefused';
  }
}
