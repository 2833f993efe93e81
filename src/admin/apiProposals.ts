// Proposals as the console shows them (evidence, the range in words, the traffic preview) and
// the flag document each approve button writes (CONTRACT §2, §6).
import type { FlagDocument, StoredProposal } from '../changes/index.js';
import type { Snapshot } from '../matcher/snapshot.js';
import { describeProfile, type DescribableFlag } from './apiDescribe.js';
import { HttpError } from './apiHttp.js';
import { compileRange, previewRange, type RangePreview, type RecentProfiles } from './apiPreview.js';

export interface ProposalEvidence {
  readonly support: number | null;
  readonly clients: number | null;
  readonly onset: string | null;
  readonly firstSeen: string | null;
  readonly lastSeen: string | null;
  readonly shareOfTraffic: number | null;
  readonly backgroundShare: number | null;
  readonly lift: number | null;
  readonly score: number | null;
  readonly coverage: number | null;
  readonly uaFamily: string | null;
}

export interface ProposalView {
  readonly id: string;
  readonly createdAt: number;
  readonly name: string | null;
  /** The learner's one-line explanation. */
  readonly explain: string | null;
  readonly evidence: ProposalEvidence;
  readonly profile: string[];
  /** Null when the document is missing or invalid (`problem` says why) or no samples exist. */
  readonly preview: RangePreview | null;
  readonly problem: string | null;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

function evidenceOf(doc: Record<string, unknown>): ProposalEvidence {
  const e = (doc.evidence ?? {}) as Record<string, unknown>;
  const family = e.uaFamily as { label?: unknown } | null | undefined;
  return {
    support: num(e.support),
    clients: num(e.clients),
    onset: str(e.onset),
    firstSeen: str(e.firstSeen),
    lastSeen: str(e.lastSeen),
    shareOfTraffic: num(e.shareOfTraffic),
    backgroundShare: num(e.backgroundShare),
    lift: num(e.lift),
    score: num(e.score) ?? num(e.anomalyScore),
    coverage: num(e.coverage),
    uaFamily: family ? str(family.label) : null,
  };
}

interface CachedPreview {
  /** The document as read (a changed proposal compiles again). */
  readonly text: string;
  readonly compiled: Snapshot | { error: string };
  preview: RangePreview | null;
  generation: number;
  at: number;
}

/** Builds proposal views; keeps each proposal's compiled range and a recent preview. */
export class ProposalViews {
  readonly #cache = new Map<string, CachedPreview>();

  constructor(
    private readonly recent: RecentProfiles | null,
    private readonly tz: string,
    /** Previews are recomputed at most this often while samples keep arriving. */
    private readonly refreshMs = 1_000,
  ) {}

  build(stored: readonly StoredProposal[], now = Date.now()): ProposalView[] {
    const seen = new Set<string>();
    const views = stored.map((p) => {
      seen.add(p.id);
      return this.#view(p, now);
    });
    for (const id of this.#cache.keys()) if (!seen.has(id)) this.#cache.delete(id);
    return views;
  }

  #view(p: StoredProposal, now: number): ProposalView {
    const base = { id: p.id, createdAt: p.createdAt };
    const doc = p.document;
    if (doc === null) {
      return {
        ...base,
        name: null,
        explain: null,
        evidence: evidenceOf({}),
        profile: [],
        preview: null,
        problem: 'the proposal document is gone or not a JSON object',
      };
    }
    const text = JSON.stringify(doc);
    let cached = this.#cache.get(p.id);
    if (!cached || cached.text !== text) {
      cached = { text, compiled: compileRange(doc), preview: null, generation: -1, at: 0 };
      this.#cache.set(p.id, cached);
    }
    const compiled = cached.compiled;
    const problem = 'error' in compiled ? compiled.error : null;
    if (problem === null && this.recent && this.recent.size > 0) {
      const stale = cached.generation !== this.recent.generation;
      if (cached.preview === null || (stale && now - cached.at >= this.refreshMs)) {
        cached.preview = previewRange(compiled as Snapshot, this.recent);
        cached.generation = this.recent.generation;
        cached.at = now;
      }
    }
    const evidence = (doc.evidence ?? {}) as Record<string, unknown>;
    return {
      ...base,
      name: str(doc.name),
      explain: str(evidence.explain) ?? str(doc.description),
      evidence: evidenceOf(doc),
      profile: describeProfile(doc as DescribableFlag, this.tz),
      preview: problem === null ? cached.preview : null,
      problem,
    };
  }
}

/** A shadow block's respond limit when the request names none (per replica). */
export const DEFAULT_BLOCK_PER_SECOND = 100;

/** The ways to approve (one button each in the console). */
export type ApproveAs = 'disabled' | 'enabled' | 'shadow-block' | 'route';

export interface ApproveRequest {
  readonly as: ApproveAs;
  /** The flag's name; default the proposal's. */
  readonly name?: string;
  /** shadow-block: the respond limit per replica. Default 100. */
  readonly perSecond?: number;
  /** route: the upstream cluster. */
  readonly cluster?: string;
  /** route: start in shadow mode. */
  readonly shadow?: boolean;
  /** Replace an existing flag of that name. */
  readonly force?: boolean;
}

export function parseApproveRequest(body: Record<string, unknown>): ApproveRequest {
  const as = body.as ?? 'disabled';
  if (as !== 'disabled' && as !== 'enabled' && as !== 'shadow-block' && as !== 'route') {
    throw new HttpError(400, 'as: one of disabled, enabled, shadow-block, route', 'bad-request');
  }
  const out: { -readonly [K in keyof ApproveRequest]: ApproveRequest[K] } = { as };
  if (body.name !== undefined && body.name !== '') {
    if (typeof body.name !== 'string') throw new HttpError(400, 'name: a string', 'bad-request');
    out.name = body.name;
  }
  if (body.perSecond !== undefined) {
    if (typeof body.perSecond !== 'number' || !(body.perSecond > 0)) {
      throw new HttpError(400, 'perSecond: a positive number', 'bad-request');
    }
    out.perSecond = body.perSecond;
  }
  if (body.cluster !== undefined) {
    if (typeof body.cluster !== 'string') throw new HttpError(400, 'cluster: a string', 'bad-request');
    out.cluster = body.cluster;
  }
  out.shadow = body.shadow === true;
  out.force = body.force === true;
  return out;
}

/** The flag document an approval writes, from the stored proposal (CONTRACT §2, §6). */
export function approvedDocument(proposal: FlagDocument, req: ApproveRequest): FlagDocument {
  const doc: FlagDocument = { ...proposal };
  if (req.name !== undefined) doc.name = req.name;
  const actions = { ...((doc.actions as Record<string, unknown> | undefined) ?? {}) };
  switch (req.as) {
    case 'disabled':
      doc.enabled = false;
      return doc;
    case 'enabled':
      doc.enabled = true;
      return doc;
    case 'shadow-block':
      doc.enabled = true;
      doc.mode = 'shadow';
      doc.respondLimit = { perSecond: req.perSecond ?? DEFAULT_BLOCK_PER_SECOND };
      doc.actions = { ...actions, respond: { status: 429 } };
      return doc;
    case 'route':
      if (!req.cluster) throw new HttpError(400, 'cluster: needed to approve as a route', 'bad-request');
      doc.enabled = true;
      if (req.shadow) doc.mode = 'shadow';
      doc.actions = { ...actions, route: { cluster: req.cluster } };
      return doc;
  }
}

/** How the approval reads in the audit entry's detail (after "proposal ID"). */
export function approveDetail(req: ApproveRequest): string {
  switch (req.as) {
    case 'disabled':
    case 'enabled':
      return req.as;
    case 'shadow-block':
      return `as shadow block 429 (at most ${req.perSecond ?? DEFAULT_BLOCK_PER_SECOND}/s)`;
    case 'route':
      return `as route to ${req.cluster ?? ''}${req.shadow ? ' (shadow)' : ''}`;
  }
}
