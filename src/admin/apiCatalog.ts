// The flag documents behind each served snapshot. A snapshot holds only the enabled flags,
// compiled; the console also shows disabled flags, modes, descriptions and experiments. The
// stores already hand every valid definition to the compile step (sidecar.ts), which records
// them here: nothing in the stores changes, and the definitions live exactly as long as their
// snapshot (a WeakMap keyed by it).
import type { FlagDefinition } from '../flags/schema.js';
import type { Snapshot } from '../matcher/snapshot.js';

export class FlagCatalog {
  readonly #bySnapshot = new WeakMap<Snapshot, readonly FlagDefinition[]>();

  record(snapshot: Snapshot, definitions: readonly FlagDefinition[]): void {
    this.#bySnapshot.set(snapshot, definitions);
  }

  /** Every valid definition behind `snapshot`; for a snapshot compiled elsewhere, none. */
  definitions(snapshot: Snapshot): readonly FlagDefinition[] {
    return this.#bySnapshot.get(snapshot) ?? [];
  }

  /** True when `snapshot` was compiled through record() (its disabled flags are known). */
  knows(snapshot: Snapshot): boolean {
    return this.#bySnapshot.has(snapshot);
  }
}
