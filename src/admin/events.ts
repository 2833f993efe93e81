// GET /api/events: server-sent events for the console. Each event says *what* changed
// (`flags`, `proposals`, `traffic`, `replicas`) with a small summary; the page then reads the
// JSON endpoint again. Ids are a sequence: a browser reconnecting with Last-Event-ID gets the
// events it missed from a short replay buffer, or a `hello` (read everything again) when they
// are gone. A heartbeat comment keeps proxies from closing idle streams; clients are bounded,
// and a client that stops reading is dropped rather than buffered without end.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { queryOf, sendJson } from './apiHttp.js';

export type ConsoleEventType = 'hello' | 'flags' | 'proposals' | 'traffic' | 'replicas';

export interface ConsoleEvent {
  readonly id: number;
  readonly type: ConsoleEventType;
  readonly data: unknown;
}

export interface EventHubOptions {
  readonly maxClients?: number;
  readonly heartbeatMs?: number;
  /** Events kept for replay after a reconnect. */
  readonly replay?: number;
  /** Bytes a client may have unread before it is dropped. */
  readonly maxBufferedBytes?: number;
  /** What `hello` carries (e.g. the served version). */
  readonly hello?: () => unknown;
}

interface Client {
  readonly res: ServerResponse;
}

export class EventHub {
  readonly #clients = new Set<Client>();
  readonly #recent: ConsoleEvent[] = [];
  readonly #maxClients: number;
  readonly #replay: number;
  readonly #maxBuffered: number;
  readonly #hello: () => unknown;
  readonly #heartbeat: NodeJS.Timeout;
  readonly #watchers: Array<(clients: number) => void> = [];
  #seq = 0;
  #closed = false;

  constructor(options: EventHubOptions = {}) {
    this.#maxClients = options.maxClients ?? 32;
    this.#replay = options.replay ?? 200;
    this.#maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
    this.#hello = options.hello ?? (() => ({}));
    this.#heartbeat = setInterval(
      () => this.#broadcast(`: heartbeat ${Date.now()}\n\n`),
      options.heartbeatMs ?? 15_000,
    );
    this.#heartbeat.unref();
  }

  get clients(): number {
    return this.#clients.size;
  }

  get lastId(): number {
    return this.#seq;
  }

  /** Called with the client count whenever it changes (pollers run only while someone listens). */
  onClients(watcher: (clients: number) => void): void {
    this.#watchers.push(watcher);
  }

  publish(type: Exclude<ConsoleEventType, 'hello'>, data: unknown): void {
    if (this.#closed) return;
    const event: ConsoleEvent = { id: ++this.#seq, type, data };
    this.#recent.push(event);
    if (this.#recent.length > this.#replay) this.#recent.shift();
    this.#broadcast(frame(event));
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET') {
      sendJson(res, 405, { error: 'GET /api/events (text/event-stream)', code: 'method' });
      return;
    }
    if (this.#closed || this.#clients.size >= this.#maxClients) {
      sendJson(res, 503, { error: 'too many console event streams', code: 'busy' }, { 'retry-after': '5' });
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const client: Client = { res };
    this.#clients.add(client);
    this.#notify();
    const drop = (): void => {
      if (this.#clients.delete(client)) this.#notify();
    };
    req.on('close', drop);
    res.on('error', drop);
    res.write('retry: 2000\n\n');
    const last = Number(req.headers['last-event-id'] ?? queryOf(req).get('lastEventId') ?? NaN);
    const oldest = this.#recent[0]?.id ?? this.#seq + 1;
    if (Number.isInteger(last) && last >= oldest - 1 && last <= this.#seq) {
      for (const e of this.#recent) if (e.id > last) res.write(frame(e));
    } else {
      res.write(frame({ id: this.#seq, type: 'hello', data: this.#hello() }));
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    for (const c of this.#clients) c.res.end();
    this.#clients.clear();
    this.#notify();
  }

  #broadcast(text: string): void {
    for (const c of [...this.#clients]) {
      if (c.res.writableLength > this.#maxBuffered) {
        this.#clients.delete(c);
        c.res.destroy();
        this.#notify();
        continue;
      }
      c.res.write(text);
    }
  }

  #notify(): void {
    for (const w of this.#watchers) w(this.#clients.size);
  }
}

function frame(e: ConsoleEvent): string {
  return `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`;
}
