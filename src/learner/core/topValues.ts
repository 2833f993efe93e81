// The most frequent values of one categorical dimension of a cluster (method, endpoint,
// country, user-agent hash, UA family), in bounded memory: the Space-Saving algorithm
// (Metwally et al. 2005) over `capacity` slots. Every slot also counts its distinct clients
// exactly up to the privacy floor, so that a value is published only with enough clients.
//
// Guarantees of Space-Saving: a value with true count > total / capacity is always kept;
// `count - error` is a lower bound of its true count. The learner uses that lower bound for
// support decisions, and the client set of a slot only counts clients seen since the value
// took the slot, so both err towards "not enough support".
import { SaturatingSet } from './distinct.js';

export interface ValueCount {
  readonly value: string;
  /** Guaranteed lower bound of the value's count. */
  readonly count: number;
  /** Distinct clients seen with the value, exact up to the floor (then the floor). */
  readonly clients: number;
}

export class TopValues {
  readonly capacity: number;
  private readonly values: string[] = [];
  private readonly counts: Float64Array;
  private readonly errors: Float64Array;
  private readonly clientSets: (SaturatingSet | null)[] = [];
  /** The first client of a slot, kept inline until a second event allocates the set. */
  private readonly firstClient: Uint32Array;
  private totalCount = 0;

  constructor(
    capacity: number,
    private readonly clientFloor: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.counts = new Float64Array(capacity);
    this.errors = new Float64Array(capacity);
    this.firstClient = new Uint32Array(capacity);
  }

  /** Events counted, including those whose value fell out of the table. */
  get total(): number {
    return this.totalCount;
  }

  get size(): number {
    return this.values.length;
  }

  private indexOf(value: string): number {
    const values = this.values;
    for (let i = 0; i < values.length; i++) if (values[i] === value) return i;
    return -1;
  }

  /** Count one event with `value` from the client with hash `client`. */
  add(value: string, client: number): void {
    this.totalCount++;
    let i = this.indexOf(value);
    if (i < 0) {
      if (this.values.length < this.capacity) {
        i = this.values.length;
        this.values.push(value);
        this.clientSets.push(null);
        this.counts[i] = 0;
        this.errors[i] = 0;
      } else {
        // Replace the smallest slot: the newcomer inherits its count as error.
        i = 0;
        for (let j = 1; j < this.capacity; j++) if (this.counts[j]! < this.counts[i]!) i = j;
        this.values[i] = value;
        this.errors[i] = this.counts[i]!;
        this.clientSets[i] = null;
      }
    }
    this.counts[i]! += 1;
    // Client sets are allocated on a slot's second event: most values of noise are seen once.
    const set = this.clientSets[i]!;
    if (set !== null) set.add(client);
    else if (this.counts[i]! - this.errors[i]! <= 1) this.firstClient[i] = client;
    else {
      const fresh = new SaturatingSet(this.clientFloor);
      fresh.add(this.firstClient[i]!);
      fresh.add(client);
      this.clientSets[i] = fresh;
    }
  }

  /** Upper-bound share of the events with this value (0 when not tracked). */
  share(value: string): number {
    if (this.totalCount === 0) return 0;
    const i = this.indexOf(value);
    return i < 0 ? 0 : this.counts[i]! / this.totalCount;
  }

  /** Guaranteed count of a value (0 when not tracked). */
  countOf(value: string): number {
    const i = this.indexOf(value);
    return i < 0 ? 0 : this.counts[i]! - this.errors[i]!;
  }

  /** Tracked values by guaranteed count, highest first (ties by value, for determinism). */
  entries(): ValueCount[] {
    const out: ValueCount[] = [];
    for (let i = 0; i < this.values.length; i++) {
      out.push({
        value: this.values[i]!,
        count: this.counts[i]! - this.errors[i]!,
        clients: this.clientSets[i]?.count ?? (this.counts[i]! - this.errors[i]! >= 1 ? 1 : 0),
      });
    }
    out.sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
    return out;
  }

  /** The most frequent value, or null when empty. */
  mode(): string | null {
    let best = -1;
    for (let i = 0; i < this.values.length; i++) if (best < 0 || this.counts[i]! > this.counts[best]!) best = i;
    return best < 0 ? null : this.values[best]!;
  }

  /** Approximate bytes held (strings at 2 bytes a character). */
  get memoryBytes(): number {
    let bytes = this.counts.byteLength + this.errors.byteLength;
    for (let i = 0; i < this.values.length; i++) {
      bytes += 16 + this.values[i]!.length * 2 + (this.clientSets[i]?.memoryBytes ?? 0);
    }
    return bytes;
  }
}
