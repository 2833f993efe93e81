// What an ext_proc filter configuration must allow for proflag's transformations (CONTRACT §6,
// ENVOY-EXTPROC §3, §5), shared by the envoy/envoy.yaml and the manifest contract tests:
//   - responseHeaders: mode_override is honoured only with allow_mode_override, not with
//     send_body_without_waiting_for_header_response, and only for the modes in
//     allowed_override_modes when that list is set;
//   - respond: immediate_response is treated as spurious with disable_immediate_response and
//     ignored in observability_mode;
//   - rewritePath: `:path` stays mutable unless mutation_rules disallow system headers or all.
import { expect } from 'vitest';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- YAML tree

/** The checks on an ExternalProcessor typed_config (snake_case, as in a bootstrap). */
export function expectTransformationsAllowed(ext: Obj, where: string): void {
  expect(ext.allow_mode_override, `${where}: allow_mode_override`).toBe(true);
  expect(ext.send_body_without_waiting_for_header_response ?? false, where).toBe(false);
  const allowed: Obj[] | undefined = ext.allowed_override_modes;
  if (allowed !== undefined) {
    expect(
      allowed.some((m) => m.response_header_mode === 'SEND' && (m.request_body_mode ?? 'NONE') === 'NONE'),
      `${where}: allowed_override_modes lets response headers be asked for`,
    ).toBe(true);
  }
  expect(ext.disable_immediate_response ?? false, `${where}: disable_immediate_response`).toBe(false);
  expect(ext.observability_mode ?? false, `${where}: observability_mode`).toBe(false);
  const rules: Obj = ext.mutation_rules ?? {};
  expect(rules.disallow_system ?? false, `${where}: mutation_rules.disallow_system blocks :path`).toBe(false);
  expect(rules.disallow_all ?? false, `${where}: mutation_rules.disallow_all`).toBe(false);
  const disallow: string | undefined = rules.disallow_expression?.regex;
  if (disallow !== undefined) expect(new RegExp(`^(?:${disallow})$`).test(':path'), where).toBe(false);
}
