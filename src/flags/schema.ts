// The one schema for flags and proposals (CONTRACT §3). Everything that reads a flag
// document (the stores, scripts/ffr through the exported JSON Schema, the learner when it
// writes proposals) goes through parseFlag, so a document means the same thing everywhere.
import { z } from 'zod';

export const FLAG_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** RFC 9110 token, lower-case only: Envoy lower-cases header names anyway. */
export const HEADER_NAME_PATTERN = /^[a-z0-9!#$%&'*+.^_`|~-]{1,128}$/;
export const CLUSTER_NAME_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
export const MAX_HEADER_VALUE_LENGTH = 4096;
export const MAX_USER_AGENT_EXEMPLARS = 10_000;
export const MAX_LIST_ITEMS = 1_000;

const weight = z.number().min(0).max(1000).default(1);

/** Header names a flag may never set or remove: Envoy's routing headers and its own namespace. */
export function isProtectedHeaderName(name: string): boolean {
  return name.startsWith(':') || name === 'host' || name.startsWith('x-envoy-');
}

const headerName = z
  .string()
  .regex(HEADER_NAME_PATTERN, 'a lower-case HTTP header name (RFC 9110 token)')
  .refine((n) => !isProtectedHeaderName(n), 'host, pseudo-headers and x-envoy-* are reserved');

const headerValue = z
  .string()
  .max(MAX_HEADER_VALUE_LENGTH)
  // Envoy fails the whole request (500) on CR, LF or NUL in a mutation; refuse them here.
  .refine((v) => !/[\r\n\0]/.test(v), 'no CR, LF or NUL characters');

const categorical = <T extends z.ZodType<string>>(item: T) =>
  z.object({ in: z.array(item).min(1).max(MAX_LIST_ITEMS), weight }).strict();

const range = (lo: number, hi: number, integer: boolean) => {
  const bound = integer ? z.number().int().min(lo).max(hi) : z.number().min(lo).max(hi);
  return z
    .object({ min: bound.optional(), max: bound.optional(), weight })
    .strict()
    .refine((r) => r.min !== undefined || r.max !== undefined, 'needs min, max or both');
};

export const methodSchema = z.string().regex(/^[A-Z]{1,16}$/, 'an upper-case HTTP method such as GET');
export const endpointPatternSchema = z
  .string()
  .max(1024)
  .regex(/^\/[^\s?#]*$/, "a path pattern starting with '/', without query or fragment");
export const countrySchema = z
  .string()
  .regex(/^[A-Z]{2}$/, 'an ISO 3166-1 alpha-2 country code such as DE (XX for unknown)');

export const profileSchema = z
  .object({
    method: categorical(methodSchema).optional(),
    endpoint: categorical(endpointPatternSchema).optional(),
    geo: categorical(countrySchema).optional(),
    payloadSize: range(0, Number.MAX_SAFE_INTEGER, false)
      .refine((r) => r.min === undefined || r.max === undefined || r.min <= r.max, 'min > max')
      .optional(),
    // min > max is allowed and wraps past midnight.
    timeOfDay: range(0, 23, true).optional(),
    userAgent: z
      .object({
        similarTo: z.array(z.string().min(1).max(2048)).max(MAX_USER_AGENT_EXEMPLARS).default([]),
        hashes: z
          .array(z.string().regex(/^[0-9a-f]{16,64}$/, 'a hex user-agent hash'))
          .max(MAX_LIST_ITEMS)
          .default([]),
        maxDistance: z.number().gt(0).max(2).default(0.2),
        weight,
      })
      .strict()
      .refine((u) => u.similarTo.length + u.hashes.length > 0, 'needs similarTo or hashes')
      .optional(),
  })
  .strict();

export const actionsSchema = z
  .object({
    route: z
      .object({
        cluster: z.string().regex(CLUSTER_NAME_PATTERN, 'a cluster name ([A-Za-z0-9_.:-])'),
      })
      .strict()
      .optional(),
    requestHeaders: z
      .object({
        set: z
          .record(headerName, headerValue)
          .refine((r) => Object.keys(r).length <= 32, 'at most 32 headers')
          .default({}),
        remove: z.array(headerName).max(32).default([]),
      })
      .strict()
      .optional(),
  })
  .strict();

export const stickinessSchema = z
  .string()
  .regex(
    /^(client|header:[a-z0-9!#$%&'*+.^_`|~-]{1,128}|cookie:[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128})$/,
    "'client', 'header:NAME' or 'cookie:NAME'",
  );

export const flagValueSchema = z.union([z.boolean(), z.string().min(1).max(256), z.number()]);

export const flagSchema = z
  .object({
    name: z.string().regex(FLAG_NAME_PATTERN, 'lower-case [a-z0-9][a-z0-9._-]{0,62}'),
    description: z.string().max(2048).optional(),
    enabled: z.boolean(),
    value: flagValueSchema.default(true),
    priority: z.number().int().min(-1_000_000).max(1_000_000).default(0),
    threshold: z.number().min(0).max(1).default(1),
    profile: profileSchema.default({}),
    actions: actionsSchema.default({}),
    rollout: z
      .object({
        percent: z.number().min(0).max(100),
        stickiness: stickinessSchema.default('client'),
      })
      .strict()
      .optional(),
    variants: z
      .array(
        z
          .object({
            name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
            weight: z.number().min(0),
            actions: actionsSchema.optional(),
          })
          .strict(),
      )
      .min(1)
      .max(32)
      .refine((v) => v.some((x) => x.weight > 0), 'at least one variant needs a positive weight')
      .refine((v) => new Set(v.map((x) => x.name)).size === v.length, 'variant names must differ')
      .optional(),
    /** Only on learned proposals (CONTRACT §2): why the learner proposed this range. */
    evidence: z.record(z.string(), z.unknown()).optional(),
  })
  // Unknown top-level fields are kept (a newer writer may know more) and reported as warnings.
  .loose();

export type FlagDefinition = z.output<typeof flagSchema>;
export type FlagProfile = z.output<typeof profileSchema>;
export type FlagActions = z.output<typeof actionsSchema>;

export const KNOWN_FLAG_FIELDS: ReadonlySet<string> = new Set(Object.keys(flagSchema.shape));

/** A refusal, with a reason a person can act on: `profile.geo.in[1]: expected ..., got "de"`. */
export interface FlagIssue {
  path: string;
  message: string;
}

export type FlagParseResult =
  { ok: true; flag: FlagDefinition; warnings: string[] } | { ok: false; issues: FlagIssue[] };

/** Largest flag document accepted, in UTF-16 code units of the JSON text. */
export const MAX_FLAG_DOCUMENT_LENGTH = 1_048_576;

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    out += typeof part === 'number' ? `[${part}]` : out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(document)' : out;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const part of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[part];
  }
  return cur;
}

/** Validate a parsed JSON value as a flag. Never throws. */
export function parseFlagValue(input: unknown): FlagParseResult {
  const result = flagSchema.safeParse(input);
  if (!result.success) {
    return {
      ok: false,
      issues: result.error.issues.map((issue) => ({
        path: formatPath(issue.path),
        message: `${issue.message}; got ${describeValue(valueAt(input, issue.path))}`,
      })),
    };
  }
  const warnings = Object.keys(result.data)
    .filter((key) => !KNOWN_FLAG_FIELDS.has(key))
    .map((key) => `unknown field '${key}' kept but ignored`);
  return { ok: true, flag: result.data, warnings };
}

/** Parse and validate a flag document as stored (JSON text). Never throws. */
export function parseFlagDocument(text: string): FlagParseResult {
  if (text.length > MAX_FLAG_DOCUMENT_LENGTH) {
    return {
      ok: false,
      issues: [
        {
          path: '(document)',
          message: `document is ${text.length} characters, more than ${MAX_FLAG_DOCUMENT_LENGTH}`,
        },
      ],
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return {
      ok: false,
      issues: [{ path: '(document)', message: `invalid JSON: ${(err as Error).message}` }],
    };
  }
  return parseFlagValue(value);
}

export function formatIssues(issues: readonly FlagIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join('; ');
}
