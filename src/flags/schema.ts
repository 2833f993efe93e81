// The one schema for flags and proposals (CONTRACT §3, §6, §7). Everything that reads a flag
// document (the stores, scripts/ffr through the exported JSON Schema, the learner when it
// writes proposals) goes through parseFlag, so a document means the same thing everywhere.
//
// Ranges that can never match are refused here, with the reason and, where there is one, what
// to write instead (deadRanges.ts): an endpoint pattern the path normalizer would rewrite, a
// country code no request carries, a user-agent exemplar the embedding finds nothing in.
import { z } from 'zod';
import { countryCodeProblem, endpointPatternProblem, userAgentExemplarProblem } from './deadRanges.js';

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

/**
 * Headers that frame the message (Envoy owns them): a flag may not set or remove them on a
 * response or an immediate reply, where a wrong value would corrupt the exchange.
 */
export const FRAMING_HEADER_NAMES: ReadonlySet<string> = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'upgrade',
  'te',
  'trailer',
]);

const responseHeaderName = headerName.refine(
  (n) => !FRAMING_HEADER_NAMES.has(n),
  'content-length, transfer-encoding, connection and the other framing headers belong to Envoy',
);

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
/** A custom issue from a check that returns a reason (or null when the value is fine). */
const refusal =
  <T>(problem: (value: T) => string | null) =>
  (value: T, ctx: z.RefinementCtx): void => {
    const reason = problem(value);
    if (reason !== null) ctx.addIssue({ code: 'custom', message: reason });
  };

export const endpointPatternSchema = z
  .string()
  .max(1024)
  .regex(/^\/[^\s?#]*$/, "a path pattern starting with '/', without query or fragment")
  .superRefine(refusal(endpointPatternProblem));
export const countrySchema = z
  .string()
  .regex(/^[A-Z]{2}$/, 'an ISO 3166-1 alpha-2 country code such as DE (upper-case)')
  .superRefine(refusal(countryCodeProblem));

export const profileSchema = z
  .object({
    method: categorical(methodSchema).optional(),
    endpoint: categorical(endpointPatternSchema).optional(),
    geo: categorical(countrySchema).optional(),
    payloadSize: range(0, Number.MAX_SAFE_INTEGER, false)
      .superRefine(
        refusal((r) =>
          r.min !== undefined && r.max !== undefined && r.min > r.max
            ? `min ${r.min} > max ${r.max}: no size is inside, so the range can never match (sizes do not wrap; swap them)`
            : null,
        ),
      )
      .optional(),
    // min > max is allowed and wraps past midnight.
    timeOfDay: range(0, 23, true).optional(),
    userAgent: z
      .object({
        similarTo: z
          .array(z.string().min(1).max(2048).superRefine(refusal(userAgentExemplarProblem)))
          .max(MAX_USER_AGENT_EXEMPLARS)
          .default([]),
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

/** Longest immediate-reply body, in bytes of UTF-8. */
export const MAX_RESPOND_BODY_BYTES = 4096;
/** Longest `details` (Envoy's %RESPONSE_CODE_DETAILS%). */
export const MAX_RESPOND_DETAILS_LENGTH = 128;
/** Longest rewritePath prefix or target. */
export const MAX_REWRITE_LENGTH = 1024;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const headerSet = (name: z.ZodType<string>) =>
  z
    .record(name, headerValue)
    .refine((r) => Object.keys(r).length <= 32, 'at most 32 headers')
    .default({});

/**
 * The 200-599 codes of Envoy's envoy.type.v3.StatusCode enum: an immediate_response's status is
 * that enum, validated `defined_only`, so a code it does not list (418, say) cannot be sent.
 */
export const ENVOY_HTTP_STATUSES: ReadonlySet<number> = new Set([
  200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404,
  405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421, 422, 423, 424, 426, 428, 429, 431, 500, 501,
  502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

export const respondSchema = z
  .object({
    status: z
      .number()
      .int()
      .min(200, 'a status from 200 to 599')
      .max(599, 'a status from 200 to 599')
      .refine((s) => ENVOY_HTTP_STATUSES.has(s), "a status Envoy's immediate_response can carry (its StatusCode enum)"),
    headers: headerSet(responseHeaderName),
    body: z
      .string()
      .refine((b) => !b.includes('\0') && !LONE_SURROGATE.test(b), 'UTF-8 text without NUL characters')
      .refine(
        (b) => Buffer.byteLength(b, 'utf8') <= MAX_RESPOND_BODY_BYTES,
        `at most ${MAX_RESPOND_BODY_BYTES} bytes of UTF-8`,
      )
      .default(''),
    details: z
      .string()
      .regex(
        new RegExp(`^[\\x21-\\x7e]{1,${MAX_RESPOND_DETAILS_LENGTH}}$`),
        `printable ASCII without spaces, at most ${MAX_RESPOND_DETAILS_LENGTH} characters`,
      )
      .optional(),
  })
  .strict();

/** An absolute path (or the start of one) as it goes into `:path`: printable ASCII, no query. */
const absolutePath = z
  .string()
  .max(MAX_REWRITE_LENGTH)
  .regex(
    /^\/[\x21-\x7e]*$/,
    "an absolute path: starts with '/', printable ASCII without spaces (percent-encode the rest)",
  )
  .refine((p) => !/[?#]/.test(p), "a path only: no '?' query or '#' fragment (the request's query is kept)");

export const rewritePathSchema = z.object({ prefix: absolutePath, to: absolutePath }).strict();

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
    respond: respondSchema.optional(),
    rewritePath: rewritePathSchema.optional(),
    responseHeaders: z
      .object({
        set: headerSet(responseHeaderName),
        remove: z.array(responseHeaderName).max(32).default([]),
      })
      .strict()
      .optional(),
  })
  .strict();

export const guardrailSchema = z
  .object({
    metric: z.enum(['errorRate', 'latencyP95']),
    /** Trip when the variant is worse than control by more than this share (0.1 = 10 %). */
    maxRelativeIncrease: z.number().gt(0).max(1000),
    /** Requests each of variant and control needs before the guardrail may trip. */
    minRequests: z.number().int().min(1).max(1_000_000_000),
    /** Significance level of the test. */
    pValue: z.number().gt(0).lt(1),
  })
  .strict();

export const experimentSchema = z
  .object({
    /** The variant the others are compared with. */
    control: z.string().min(1).max(64),
    guardrails: z.array(guardrailSchema).max(16).default([]),
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
    /** `shadow`: evaluated, counted and explained, but nothing is applied (CONTRACT §6). */
    mode: z.enum(['enforce', 'shadow']).default('enforce'),
    /** Immediate replies per second per replica (a token bucket); required with a `respond`. */
    respondLimit: z
      .object({ perSecond: z.number().gt(0).max(1_000_000) })
      .strict()
      .optional(),
    experiment: experimentSchema.optional(),
    /** Only on learned proposals (CONTRACT §2): why the learner proposed this range. */
    evidence: z.record(z.string(), z.unknown()).optional(),
  })
  // Unknown top-level fields are kept (a newer writer may know more) and reported as warnings.
  .loose()
  .superRefine((flag, ctx) => {
    const responds = flag.actions.respond !== undefined || (flag.variants ?? []).some((v) => v.actions?.respond);
    if (responds && flag.respondLimit === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['respondLimit'],
        message:
          'a flag with a respond action needs "respondLimit": {"perSecond": N} (a token bucket per replica), ' +
          'so that a mistaken range cannot answer all of a service',
      });
    }
    const experiment = flag.experiment;
    if (experiment === undefined) return;
    if (flag.variants === undefined) {
      ctx.addIssue({ code: 'custom', path: ['experiment'], message: 'an experiment needs variants to compare' });
    } else if (!flag.variants.some((v) => v.name === experiment.control)) {
      ctx.addIssue({
        code: 'custom',
        path: ['experiment', 'control'],
        message: `names no variant of this flag (variants: ${flag.variants.map((v) => v.name).join(', ')})`,
      });
    }
  });

export type FlagDefinition = z.output<typeof flagSchema>;
export type FlagProfile = z.output<typeof profileSchema>;
export type FlagActions = z.output<typeof actionsSchema>;
export type FlagRespond = z.output<typeof respondSchema>;
export type FlagExperiment = z.output<typeof experimentSchema>;
export type FlagGuardrail = z.output<typeof guardrailSchema>;

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
      issues: result.error.issues.map((issue) => {
        // A bad record key (a header name): say what is wrong with the key, and show the key.
        if (issue.code === 'invalid_key' && issue.issues.length > 0) {
          const key = issue.path[issue.path.length - 1];
          return {
            path: formatPath(issue.path),
            message: `${issue.issues.map((i) => i.message).join('; ')}; got name ${describeValue(String(key))}`,
          };
        }
        return {
          path: formatPath(issue.path),
          message: `${issue.message}; got ${describeValue(valueAt(input, issue.path))}`,
        };
      }),
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
