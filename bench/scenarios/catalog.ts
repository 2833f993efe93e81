// The learner's scenarios: the background alone, and one planted pattern each (the QUALITY.md
// bar's "new user-agent family from one country hitting one endpoint" at 1 %, a scraper family,
// a credential-stuffing burst, a new mobile app version, a regional campaign), plus a flood of
// unique values. Sizes are parameters so the tests run small versions of the same scenarios.
import type { PlantedPattern, ScenarioSpec } from './generator.js';

export interface ScenarioSize {
  /** Requests before the onset. */
  readonly baseline: number;
  /** Requests from the onset to the end. */
  readonly after: number;
}

export const QUICK: ScenarioSize = { baseline: 20_000, after: 20_000 };
export const FULL: ScenarioSize = { baseline: 50_000, after: 100_000 };

export type PatternFactory = (onset: number) => PlantedPattern;

export const PATTERNS: Readonly<Record<string, PatternFactory>> = {
  /** QUALITY.md: a new user-agent family from one country hitting one endpoint, 1 % of traffic. */
  'new-family-1pct': (onset) => ({
    name: 'new-family-1pct',
    share: 0.01,
    onset,
    clients: 5_000,
    userAgents: ['Go-http-client/1.1', 'Go-http-client/2.0'],
    countries: [['BR', 1]],
    requests: [{ method: 'POST', path: '/api/login', weight: 1, size: [200, 400] }],
  }),
  /** The same, with a family no reference names (only hashes can describe its user agents). */
  'unknown-family-1pct': (onset) => ({
    name: 'unknown-family-1pct',
    share: 0.01,
    onset,
    clients: 5_000,
    userAgents: [
      'Fetchr/3.2.1 (linux; amd64; +https://fetchr.example/about)',
      'Fetchr/3.3.0 (linux; arm64; +https://fetchr.example/about)',
    ],
    countries: [['PL', 1]],
    requests: [{ method: 'GET', path: '/api/recommendations', weight: 1 }],
  }),
  /** A scraper family (three versions of one HTTP library) from three datacentre countries. */
  scraper: (onset) => ({
    name: 'scraper',
    share: 0.02,
    onset,
    clients: 600,
    userAgents: ['python-requests/2.31.0', 'python-requests/2.28.2', 'python-requests/2.32.3'],
    countries: [
      ['US', 5],
      ['DE', 3],
      ['NL', 2],
    ],
    requests: [
      { method: 'GET', path: '/products/{n}', weight: 7 },
      { method: 'GET', path: '/api/items/{n}', weight: 3 },
    ],
  }),
  /** Credential stuffing: rotating real browser user agents, a botnet's countries, small login bodies. */
  'credential-stuffing': (onset) => ({
    name: 'credential-stuffing',
    share: 0.03,
    onset,
    end: onset + 12_000,
    clients: 8_000,
    userAgents: 'background',
    countries: [
      ['VN', 1],
      ['ID', 1],
      ['BR', 1],
      ['IN', 1],
      ['RU', 1],
    ],
    requests: [{ method: 'POST', path: '/api/login', weight: 1, size: [60, 100] }],
  }),
  /** A new mobile app version: its own user agents and new API endpoints, from everywhere. */
  'mobile-app': (onset) => ({
    name: 'mobile-app',
    share: 0.02,
    onset,
    clients: 10_000,
    userAgents: ['ShopApp/5.0.0 (iPhone; iOS 17.4; Scale/3.00)', 'ShopApp/5.0.0 (Android 14; Pixel 8; Build/AP1A)'],
    countries: 'background',
    requests: [
      { method: 'GET', path: '/api/v5/feed', weight: 6 },
      { method: 'POST', path: '/api/v5/cart', weight: 4, size: [100, 600] },
    ],
  }),
  /** A regional campaign: ordinary browsers from one country on a new landing page. */
  'regional-campaign': (onset) => ({
    name: 'regional-campaign',
    share: 0.015,
    onset,
    clients: 6_000,
    userAgents: 'background',
    countries: [['MX', 1]],
    requests: [
      { method: 'GET', path: '/campaign/verano-2026', weight: 8 },
      { method: 'POST', path: '/campaign/verano-2026/signup', weight: 2, size: [100, 300] },
    ],
  }),
};

export function plantedScenario(name: string, size: ScenarioSize, seed = 42): ScenarioSpec {
  const factory = PATTERNS[name];
  if (!factory) throw new Error(`unknown pattern ${name}`);
  return { name, seed, requests: size.baseline + size.after, planted: [factory(size.baseline)] };
}

export function stationaryScenario(requests: number, seed = 7): ScenarioSpec {
  return { name: 'stationary', seed, requests };
}

/** Unique user agents and paths on 20 % of the traffic from the onset. */
export function floodScenario(size: ScenarioSize, seed = 11): ScenarioSpec {
  return {
    name: 'flood',
    seed,
    requests: size.baseline + size.after,
    flood: { share: 0.2, onset: size.baseline, uniqueUserAgents: true, uniquePaths: true },
  };
}
