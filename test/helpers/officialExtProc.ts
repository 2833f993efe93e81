// Envoy's OFFICIAL ext_proc protos (vendored by @grpc/grpc-js-xds), loaded with proflag's own
// loader options, so that the official side's messages are the same objects as ours: for the
// tests that hold proflag's protos and wire codec against Envoy's. Also the header value both
// sides carry (raw_value bytes) and a value that is not UTF-8.
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { LOADER_OPTIONS } from '../../src/extproc/protocol.js';
import { OFFICIAL_INCLUDE_DIRS } from './envoyConfigValidator.js';

export const EXT_PROC_PROTO_FILE = 'envoy/service/ext_proc/v3/external_processor.proto';
export const EXT_PROC_SERVICE = 'envoy.service.ext_proc.v3.ExternalProcessor';

/** The official protos' package definition, with LOADER_OPTIONS. */
export function officialExtProcDefinition(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(EXT_PROC_PROTO_FILE, { ...LOADER_OPTIONS, includeDirs: OFFICIAL_INCLUDE_DIRS });
}

/** ExternalProcessor.Process from the official protos: its serializers are Envoy's encoding. */
export function officialProcessMethod(
  definition: protoLoader.PackageDefinition = officialExtProcDefinition(),
): grpc.ServiceDefinition[string] {
  return (definition[EXT_PROC_SERVICE] as grpc.ServiceDefinition)['Process']!;
}

/** A HeaderValue as current Envoy sends it: the value in raw_value (a string as latin1 bytes). */
export const raw = (key: string, value: string | Buffer) => ({
  key,
  raw_value: typeof value === 'string' ? Buffer.from(value, 'latin1') : value,
});

/** Bytes that are not UTF-8: a header value must survive them unchanged. */
export const NON_UTF8 = Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0x80]);
