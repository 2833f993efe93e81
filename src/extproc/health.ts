// The standard gRPC health service (grpc.health.v1.Health), which Envoy's gRPC health checks
// and Kubernetes' grpc probes call: unary Check and server-streaming Watch, per service name
// ("" is the whole server). Messages: HealthCheckRequest { string service = 1; },
// HealthCheckResponse { ServingStatus status = 1; } with UNKNOWN 0, SERVING 1, NOT_SERVING 2,
// SERVICE_UNKNOWN 3 (Watch only). Check of an unknown service is NOT_FOUND, as the spec says.
import { GRPC_STATUS, type GrpcServerCall } from './grpcCall.js';
import { WIRE_LEN, WireError, WireReader, WireWriter } from './protoWire.js';
import type { CallListener } from './stream.js';

export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';
export const HEALTH_WATCH_PATH = '/grpc.health.v1.Health/Watch';

export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
const STATUS_NUMBER: Record<ServingStatus, number> = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 };

function encodeStatus(status: ServingStatus): Buffer {
  const w = new WireWriter(8);
  if (STATUS_NUMBER[status] !== 0) w.uint(1, STATUS_NUMBER[status]);
  return w.finish();
}

/** The service name of a HealthCheckRequest; null when the bytes do not decode. */
export function decodeHealthCheckRequest(bytes: Buffer): string | null {
  const r = new WireReader(bytes);
  let service = '';
  try {
    while (!r.done) {
      const tag = r.tag();
      if (tag === ((1 << 3) | WIRE_LEN)) {
        const s = r.lengthDelimited();
        service = bytes.toString('utf8', s, r.pos);
      } else r.skip(tag & 7);
    }
  } catch (err) {
    if (err instanceof WireError) return null;
    throw err;
  }
  return service;
}

type Watcher = (status: ServingStatus) => void;

export class HealthService {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<Watcher>>();
  private readonly watchCalls = new Set<GrpcServerCall>();

  constructor(initial: Record<string, ServingStatus>) {
    for (const [service, status] of Object.entries(initial)) this.statuses.set(service, status);
  }

  status(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  setStatus(service: string, status: ServingStatus): void {
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    for (const watcher of this.watchers.get(service) ?? []) watcher(status);
  }

  /** Unary Check: one request, one response, then OK; or NOT_FOUND for an unknown service. */
  check(call: GrpcServerCall): CallListener {
    let service: string | null = null;
    let seen = false;
    return {
      onMessage: (bytes) => {
        if (seen) {
          call.finishWith(GRPC_STATUS.UNIMPLEMENTED, 'Check takes one request message');
          return;
        }
        seen = true;
        service = decodeHealthCheckRequest(bytes);
      },
      onHalfClose: () => {
        if (!seen || service === null) {
          call.finishWith(GRPC_STATUS.INVALID_ARGUMENT, 'expected one HealthCheckRequest');
          return;
        }
        const status = this.statuses.get(service);
        if (status === undefined) {
          call.finishWith(GRPC_STATUS.NOT_FOUND, `unknown service ${JSON.stringify(service)}`);
          return;
        }
        call.sendMessage(encodeStatus(status));
        call.finish();
      },
      onAbort: () => {},
    };
  }

  /** Server-streaming Watch: the current status at once, then every change, until cancelled. */
  watch(call: GrpcServerCall): CallListener {
    let service: string | null = null;
    const watcher: Watcher = (status) => {
      if (!call.sendMessage(encodeStatus(status))) stop();
    };
    const stop = () => {
      this.watchCalls.delete(call);
      if (service !== null) this.watchers.get(service)?.delete(watcher);
    };
    this.watchCalls.add(call);
    return {
      onMessage: (bytes) => {
        if (service !== null) return;
        const name = decodeHealthCheckRequest(bytes);
        if (name === null) {
          call.finishWith(GRPC_STATUS.INVALID_ARGUMENT, 'expected one HealthCheckRequest');
          return;
        }
        service = name;
        let set = this.watchers.get(name);
        if (!set) this.watchers.set(name, (set = new Set()));
        set.add(watcher);
        watcher(this.statuses.get(name) ?? 'SERVICE_UNKNOWN');
      },
      onHalfClose: () => {
        if (service === null) call.finishWith(GRPC_STATUS.INVALID_ARGUMENT, 'expected one HealthCheckRequest');
      },
      onAbort: stop,
    };
  }

  /** End every Watch (server shutdown): UNAVAILABLE, so that clients look elsewhere. */
  endWatches(): void {
    for (const call of [...this.watchCalls]) call.finishWith(GRPC_STATUS.UNAVAILABLE, 'server shutting down');
    this.watchCalls.clear();
    this.watchers.clear();
  }
}
