// GET /learner on the admin port (CONTRACT §8): the learner's state and, per cluster, why it is
// not a proposal yet. JSON by default; `?format=text` gives the text `scripts/ffr learner`
// prints. The route only takes a function returning the report, so it can be served wherever
// the learner lives (the sidecar, the fleet learner, a primary process fed by workers).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { formatLearnerReport, type LearnerReport } from '../learner/learnerReport.js';

/** The current report, or null when this process has no learner (PROFLAG_LEARN=off). */
export type LearnerStateSource = () => LearnerReport | null;

function reply(res: ServerResponse, status: number, body: string, type: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

export function serveLearner(req: IncomingMessage, res: ServerResponse, source: LearnerStateSource | undefined): void {
  const json = (status: number, body: unknown) => reply(res, status, JSON.stringify(body, null, 2), 'application/json');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    json(405, { error: 'GET /learner (add ?format=text for the text form)' });
    return;
  }
  const report = source?.() ?? null;
  if (report === null) {
    json(404, { error: 'no learner in this process (PROFLAG_LEARN=off)' });
    return;
  }
  const format = new URL(req.url ?? '/', 'http://admin').searchParams.get('format');
  if (format === 'text') reply(res, 200, formatLearnerReport(report), 'text/plain; charset=utf-8');
  else json(200, report);
}
