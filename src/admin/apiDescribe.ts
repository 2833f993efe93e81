// A flag's range and actions in words, for the console (and anything else that shows a flag
// to a person). User-agent exemplars are never repeated: they are counted, so no user-agent
// string reaches the page.

type Weighted = { weight?: number };
interface ProfileLike {
  method?: { in: readonly string[] } & Weighted;
  endpoint?: { in: readonly string[] } & Weighted;
  geo?: { in: readonly string[] } & Weighted;
  payloadSize?: { min?: number; max?: number } & Weighted;
  timeOfDay?: { min?: number; max?: number } & Weighted;
  userAgent?: { similarTo?: readonly string[]; hashes?: readonly string[]; maxDistance?: number } & Weighted;
}

/** The fields of a flag document this module reads; later fields (mode, respond...) optional. */
export interface DescribableFlag {
  readonly threshold?: number;
  readonly profile?: ProfileLike;
  readonly actions?: Record<string, unknown>;
  readonly rollout?: { percent: number; stickiness?: string };
  readonly variants?: ReadonlyArray<{ name: string; weight: number; actions?: Record<string, unknown> }>;
  readonly respondLimit?: unknown;
}

function list(values: readonly string[], max = 6, conjunction = 'or'): string {
  const shown = values.slice(0, max);
  const rest = values.length - shown.length;
  if (rest > 0) return `${shown.join(', ')} and ${rest} more`;
  if (shown.length <= 1) return shown.join('');
  return `${shown.slice(0, -1).join(', ')} ${conjunction} ${shown[shown.length - 1]}`;
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} B`;
}

function weightNote(w: Weighted): string {
  return w.weight !== undefined && w.weight !== 1 ? ` (weight ${w.weight})` : '';
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** One line per profile dimension, then how they combine. */
export function describeProfile(flag: DescribableFlag, tz = 'UTC'): string[] {
  const p = flag.profile ?? {};
  const out: string[] = [];
  if (p.method) out.push(`method ${list(p.method.in)}${weightNote(p.method)}`);
  if (p.endpoint) out.push(`path ${list(p.endpoint.in)}${weightNote(p.endpoint)}`);
  if (p.geo) out.push(`${p.geo.in.length === 1 ? 'country' : 'countries'} ${list(p.geo.in, 8)}${weightNote(p.geo)}`);
  if (p.payloadSize) {
    const { min, max } = p.payloadSize;
    const range =
      min !== undefined && max !== undefined
        ? `${formatBytes(min)} to ${formatBytes(max)}`
        : min !== undefined
          ? `at least ${formatBytes(min)}`
          : `at most ${formatBytes(max!)}`;
    out.push(`body size ${range}${weightNote(p.payloadSize)}`);
  }
  if (p.timeOfDay) {
    const lo = p.timeOfDay.min ?? 0;
    const hi = p.timeOfDay.max ?? 23;
    const wraps = lo > hi ? ', past midnight' : '';
    out.push(`hour ${lo} to ${hi} (${tz}${wraps})${weightNote(p.timeOfDay)}`);
  }
  if (p.userAgent) {
    const parts: string[] = [];
    const n = p.userAgent.similarTo?.length ?? 0;
    const h = p.userAgent.hashes?.length ?? 0;
    if (n > 0) parts.push(`within distance ${p.userAgent.maxDistance ?? 0.2} of ${plural(n, 'exemplar')}`);
    if (h > 0) parts.push(`one of ${plural(h, 'known user-agent hash', 'known user-agent hashes')}`);
    out.push(`user agent ${parts.join(', or ')}${weightNote(p.userAgent)}`);
  }
  if (out.length === 0) return ['every request (no profile)'];
  const threshold = flag.threshold ?? 1;
  if (out.length > 1) {
    out.push(
      threshold >= 1
        ? 'all of these must match'
        : `matches at a weighted score of at least ${threshold} (share of the ranges that match)`,
    );
  } else if (threshold < 1 && threshold > 0) out.push(`matches at a score of at least ${threshold}`);
  return out;
}

function describeActionSet(actions: Record<string, unknown> | undefined, out: string[]): void {
  if (!actions) return;
  const a = actions as {
    route?: { cluster?: string };
    requestHeaders?: { set?: Record<string, string>; remove?: string[] };
    respond?: { status?: number };
    rewritePath?: { prefix?: string; to?: string };
    responseHeaders?: { set?: Record<string, string>; remove?: string[] };
  };
  if (a.respond?.status !== undefined) out.push(`answers ${a.respond.status} itself (the request ends there)`);
  if (a.route?.cluster) out.push(`routes to cluster ${a.route.cluster}`);
  if (a.rewritePath?.prefix) out.push(`rewrites paths under ${a.rewritePath.prefix} to ${a.rewritePath.to ?? ''}`);
  const setNames = Object.keys(a.requestHeaders?.set ?? {});
  if (setNames.length > 0)
    out.push(`sets request ${setNames.length === 1 ? 'header' : 'headers'} ${list(setNames, 6, 'and')}`);
  const removed = a.requestHeaders?.remove ?? [];
  if (removed.length > 0)
    out.push(`removes request ${removed.length === 1 ? 'header' : 'headers'} ${list(removed, 6, 'and')}`);
  const respSet = Object.keys(a.responseHeaders?.set ?? {});
  if (respSet.length > 0)
    out.push(`sets response ${respSet.length === 1 ? 'header' : 'headers'} ${list(respSet, 6, 'and')}`);
  const respRemoved = a.responseHeaders?.remove ?? [];
  if (respRemoved.length > 0)
    out.push(`removes response ${respRemoved.length === 1 ? 'header' : 'headers'} ${list(respRemoved, 6, 'and')}`);
}

/** What the flag does to a matching request. */
export function describeActions(flag: DescribableFlag): string[] {
  const out: string[] = [];
  describeActionSet(flag.actions, out);
  const limit = flag.respondLimit as { perSecond?: number } | undefined;
  if (limit?.perSecond !== undefined) out.push(`answers at most ${limit.perSecond} requests per second per replica`);
  if (flag.rollout) {
    out.push(
      `applies to ${flag.rollout.percent}% of matching units (sticky by ${flag.rollout.stickiness ?? 'client'})`,
    );
  }
  if (flag.variants) {
    const total = flag.variants.reduce((s, v) => s + v.weight, 0);
    const shares = flag.variants.map((v) => {
      const pct = total > 0 ? Math.round((100 * v.weight) / total) : 0;
      const own: string[] = [];
      describeActionSet(v.actions, own);
      return `${v.name} ${pct}%${own.length > 0 ? ` (${own.join(', ')})` : ''}`;
    });
    out.push(`variants: ${shares.join('; ')}`);
  }
  if (out.length === 0) out.push('only tells the backend (flags header)');
  return out;
}
