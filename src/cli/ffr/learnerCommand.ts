// `ffr learner [--json] [--url URL]`: what the learner is doing and why nothing is proposed,
// read from a running sidecar's admin port (GET /learner; the fleet learner serves it on
// PROFLAG_LEARNER_ADMIN_ADDR). It needs no Redis: the learner's state lives in its process.
import { fail, usageError } from './output.js';

export const LEARNER_USAGE = 'usage: ffr learner [--json] [--url http://HOST:PORT]';

/** The admin address to ask: --url, else PROFLAG_ADMIN_ADDR (a wildcard bind means loopback). */
export function learnerUrl(args: readonly string[], env: NodeJS.ProcessEnv): { url: string; json: boolean } {
  let json = false;
  let base: string | null = null;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--json') json = true;
    else if (arg === '--url') {
      const value = args[++i];
      if (value === undefined || !/^https?:\/\/[^\s/]+\/?$/.test(value))
        usageError(`--url needs http://HOST:PORT\n${LEARNER_USAGE}`);
      base = value.replace(/\/$/, '');
    } else usageError(`unexpected argument ${JSON.stringify(arg)}\n${LEARNER_USAGE}`);
  }
  if (base === null) {
    const addr = env['PROFLAG_ADMIN_ADDR'] || '127.0.0.1:9464';
    const colon = addr.lastIndexOf(':');
    let host = addr.slice(0, colon);
    if (host === '0.0.0.0' || host === '') host = '127.0.0.1';
    else if (host === '[::]') host = '[::1]';
    base = `http://${host}:${addr.slice(colon + 1)}`;
  }
  return { url: `${base}/learner${json ? '' : '?format=text'}`, json };
}

export async function cmdLearner(args: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  const { url, json } = learnerUrl(args, env);
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  } catch (err) {
    fail(
      `cannot reach the sidecar's admin port at ${url}: ${(err as Error).message} (set PROFLAG_ADMIN_ADDR or --url)`,
    );
  }
  const body = await res.text();
  if (res.status === 404) fail(`no learner at ${url} (PROFLAG_LEARN=off there?)`);
  if (!res.ok) fail(`${url} answered ${res.status}: ${body.slice(0, 200)}`);
  if (!json) return body.endsWith('\n') ? body : `${body}\n`;
  return `${JSON.stringify(JSON.parse(body), null, 2)}\n`;
}
