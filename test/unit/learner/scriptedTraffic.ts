// The learner unit tests' synthetic traffic: three browsers over five endpoints and five
// countries from 3,000 background clients, an attacking Go-http-client family posting to
// /api/v1/token, client keys as the extractor makes them, and a detector that calls anomalous
// exactly what the test says.
import { createHash } from 'node:crypto';
import { embedUserAgent } from '../../../src/features/userAgent.js';
import type { DetectorInput, ProfileDetector } from '../../../src/learner/core/detector/profileDetector.js';
import type { LearnerInput } from '../../../src/learner/learner.js';

export const BROWSERS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0',
];
export const ATTACK_UA = 'Go-http-client/2.0';
export const ENDPOINTS = ['/', '/products/{id}', '/api/cart', '/search', '/api/login'];
export const COUNTRIES = ['US', 'DE', 'BR', 'FR', 'JP'];

/** A client key as the extractor makes them: 32 hex characters of a keyed hash. */
export const clientKey = (id: string): string => createHash('sha256').update(id).digest('hex').slice(0, 32);

/** Anomalous exactly when `isAnomalous` says so, giving `reasons` then. */
export function scriptedDetector(
  isAnomalous: (p: DetectorInput) => boolean,
  reasons: readonly string[] = [],
): ProfileDetector {
  let observed = 0;
  return {
    observe(p) {
      observed++;
      const a = isAnomalous(p);
      return { raw: a ? 10 : 1, calibrated: a ? 0.999 : 0.3, reasons: a ? [...reasons] : [] };
    },
    get observed() {
      return observed;
    },
    memoryBytes: 1_000,
  };
}

/** The background and attack requests, with user agents hashed by `hash`. */
export function scriptedTraffic(hash: (ua: string) => string): {
  /** Request `i` of the background: browser, endpoint, country and client in turn. */
  background(i: number): LearnerInput;
  /** The attacker family's request from its `n`-th client. */
  attack(n: number): LearnerInput;
} {
  const browserHashes = BROWSERS.map(hash);
  const browserVectors = BROWSERS.map((ua) => embedUserAgent(ua));
  const backgroundClients = Array.from({ length: 3_000 }, (_, i) => clientKey(`bg${i}`));
  const attackHash = hash(ATTACK_UA);
  const attackVector = embedUserAgent(ATTACK_UA);
  return {
    background: (i) => ({
      method: i % 7 === 0 ? 'POST' : 'GET',
      endpoint: ENDPOINTS[i % 5]!,
      payloadSize: i % 7 === 0 ? 100 + (i % 200) : null,
      hour: 10,
      country: COUNTRIES[(i >> 2) % 5]!,
      uaHash: browserHashes[i % 3]!,
      uaVector: browserVectors[i % 3]!,
      clientKey: backgroundClients[i % 3_000]!,
    }),
    attack: (n) => ({
      method: 'POST',
      endpoint: '/api/v1/token',
      payloadSize: 250,
      hour: 10,
      country: 'BR',
      uaHash: attackHash,
      uaVector: attackVector,
      clientKey: clientKey(`attacker${n}`),
    }),
  };
}
