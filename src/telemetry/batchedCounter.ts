// A labelled counter child for the request path: it counts in a plain number and hands the sum
// to prom-client only when the metric is read (a scrape or `get()`), through the metric's
// `collect` hook. prom-client hashes and validates the labels on every `inc()` of a child,
// which cost more per request than proflag's whole decision bookkeeping.
import type { Counter } from 'prom-client';

export interface FastCounter {
  inc(): void;
}

interface Child {
  pending: number;
  readonly flush: (n: number) => void;
}

type Collectable = { collect?: () => unknown | Promise<unknown> };
const childrenOf = new WeakMap<object, Child[]>();

/** A child of `counter` with these label values whose increments reach it on the next read. */
export function batchedChild<T extends string>(counter: Counter<T>, ...labelValues: string[]): FastCounter {
  let children = childrenOf.get(counter);
  if (children === undefined) {
    const list: Child[] = [];
    children = list;
    childrenOf.set(counter, list);
    const target = counter as unknown as Collectable;
    const previous = target.collect;
    target.collect = () => {
      for (const c of list) {
        if (c.pending === 0) continue;
        const n = c.pending;
        c.pending = 0;
        c.flush(n);
      }
      return previous?.call(counter);
    };
  }
  const labelled = (counter.labels as (...v: string[]) => { inc(n: number): void })(...labelValues);
  const child: Child = { pending: 0, flush: (n) => labelled.inc(n) };
  children.push(child);
  return {
    inc() {
      child.pending++;
    },
  };
}
