// Plain RequestProfile values for tests of the pure core.
import type { HeaderLookup, RequestProfile } from '../../src/features/profile.js';

export function profileOf(overrides: Partial<RequestProfile> = {}): RequestProfile {
  return {
    method: 'GET',
    endpoint: '/',
    payloadSize: null,
    hour: 12,
    country: null,
    continent: null,
    uaHash: null,
    uaVector: null,
    clientKey: 'client-0',
    ...overrides,
  };
}

export function headersOf(values: Record<string, string> = {}): HeaderLookup {
  const map = new Map(Object.entries(values).map(([k, v]) => [k.toLowerCase(), v]));
  return { get: (name) => map.get(name) };
}
