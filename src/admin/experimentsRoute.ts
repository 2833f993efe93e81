// GET /experiments/NAME[?since=DURATION][&effect=RELATIVE][&format=text] on the admin port: the experiment
// report of one flag (CONTRACT §7), as JSON or as the text `ffr results NAME` prints.
// Its own module so that adminServer.ts registers it with one line:
//   if (path.startsWith(EXPERIMENTS_PATH)) return void (await handleExperiments(req, res, deps.experiments));
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseDuration } from '../experiments/core/duration.js';
import { formatReport } from '../experiments/core/format.js';
import type { ExperimentReport } from '../experiments/core/report.js';
import { FLAG_NAME_PATTERN } from '../flags/schema.js';

export const EXPERIMENTS_PATH = '/experiments/';

export interface ExperimentsRouteDeps {
  /** The report from Redis (reportReader.readExperimentReport with the sidecar's client and TTL). */
  report(flag: string, options: { sinceMs?: number; relativeEffect?: number }): Promise<ExperimentReport | null>;
}

function send(res: ServerResponse, status: number, body: string, type: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, JSON.stringify(body, null, 2), 'application/json');
}

/** Answers every request under /experiments/; never throws (a failed read is a 503). */
export async function handleExperiments(
  req: IncomingMessage,
  res: ServerResponse,
  deps: ExperimentsRouteDeps,
): Promise<void> {
  if (req.method !== 'GET') {
    json(res, 405, { error: 'GET /experiments/NAME[?since=1h][&format=text]' });
    return;
  }
  const url = new URL(req.url ?? '/', 'http://admin');
  let name = '';
  try {
    name = decodeURIComponent(url.pathname.slice(EXPERIMENTS_PATH.length));
  } catch {
    // A malformed %-escape is not a flag name either.
  }
  if (!FLAG_NAME_PATTERN.test(name)) {
    json(res, 400, { error: 'not a flag name: lower-case [a-z0-9][a-z0-9._-]{0,62}' });
    return;
  }
  const since = url.searchParams.get('since');
  const sinceMs = since === null ? undefined : parseDuration(since);
  if (sinceMs === null) {
    json(res, 400, { error: `since=${JSON.stringify(since)}: a duration such as 90s, 30m, 1h, 7d or 1h30m` });
    return;
  }
  const effectText = url.searchParams.get('effect');
  const relativeEffect = effectText === null ? undefined : Number(effectText);
  if (relativeEffect !== undefined && !(relativeEffect > 0 && relativeEffect <= 10)) {
    json(res, 400, { error: 'effect is a relative error-rate increase in (0, 10], e.g. 0.2' });
    return;
  }
  const format = url.searchParams.get('format') ?? 'json';
  if (format !== 'json' && format !== 'text') {
    json(res, 400, { error: 'format is json or text' });
    return;
  }
  let report: ExperimentReport | null;
  try {
    report = await deps.report(name, {
      ...(sinceMs === undefined ? {} : { sinceMs }),
      ...(relativeEffect === undefined ? {} : { relativeEffect }),
    });
  } catch (err) {
    json(res, 503, {
      error: `reading experiment counts failed: ${(err as Error).message}`,
      code: 'PROFLAG_ERR_EXPERIMENT',
    });
    return;
  }
  if (report === null) {
    json(res, 404, { error: `no experiment counts for ${name}` });
    return;
  }
  if (format === 'text') send(res, 200, formatReport(report), 'text/plain; charset=utf-8');
  else json(res, 200, report);
}
