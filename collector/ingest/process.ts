// One request's events through the ingest rules: validate, apply the consent policy, normalise and
// enrich, check the timestamp bounds. Pure: it returns the rows to spool and the refusals to report.
import type { ConsentPolicy, LimitsConfig } from '../config';
import type { ConsentRefusalRow, QuarantineRow } from '../warehouse/events';
import type { BatchEnvelope } from './batch';
import { analyticsIds, applyConsentDecision, batchDenials, consentManagementPreferences, deniedConsent, eventDenials, stripRawIdentifiers, type AnalyticsIds } from './consent';
import { consentRefusal, marketingKeys } from './consent-refusal';
import { isObject, validateEvent, type Refusal } from './event';
import { anonymizeIp } from './ip';
import { eventRow, eventTimes, parseClientTime, toDateTimeText, type EventRow, type EventTimes } from './normalize';
import type { BlockedIds } from './placeholder-ids';

export interface Rejection {
  index: number;
  reason: string;
}

/** What the request, not its events, tells us. */
export interface RequestContext {
  source: string;
  consentPolicy: ConsentPolicy;
  /** The source's consent ids for analytics besides `analytics` (its `analyticsConsentIds`; see consent.ts). */
  analyticsConsentIds?: readonly string[];
  /** The source's consent ids for marketing (its `marketingConsentIds`): an allow-list without one denies it (consent.ts). */
  marketingConsentIds?: readonly string[];
  receivedAt: number;
  /** The client IP as it will be stored (already anonymised when the source wants that). */
  ip: string;
  /** The source keeps full IPs; otherwise an IP the client sends in `context.ip` is anonymised too. */
  keepFullIp: boolean;
  userAgent: string;
  /** The config's blockedIds (placeholder-ids.ts): ids, e-mails and phones that identify no one, besides the built-in placeholders. */
  blockedIds?: BlockedIds;
}

export interface ProcessedBatch {
  rows: EventRow[];
  quarantine: QuarantineRow[];
  /**
   * The marketing refusals of events whose ids the consent policy removes (consent-refusal.ts), stored, dropped
   * or refused as invalid: one row per id, each once per request. Spooled with the rows, so an acknowledged
   * refusal is never lost.
   */
  refusals: ConsentRefusalRow[];
  rejected: Rejection[];
  /** Refusal codes, one per rejected event (for metrics). */
  rejectedCodes: string[];
  /** Events dropped by the consent policy `drop`: valid or not, nothing of them is stored. */
  dropped: number;
  /** Events stored without identifiers by the consent policy `strip`. */
  stripped: number;
  /** Events stored without an id that was a placeholder ("undefined", the zero UUID, the config's blockedIds). */
  blockedIds: number;
}

const dayMs = 86_400_000;
// DateTime columns hold 1970..2105; anything outside a generous window is a broken clock, not data.
const plausible = (ms: number) => ms >= Date.UTC(2000, 0, 1) && ms < Date.UTC(2100, 0, 1);

/** JSON of a refused event for the quarantine; an event too deep to serialise is kept as a note. */
function rawText(raw: unknown): string {
  try {
    return JSON.stringify(raw) ?? 'null';
  } catch {
    return JSON.stringify('(not stored: nested too deeply to serialise)');
  }
}

/** Checks the event's times (the skew-corrected one against the limits); undefined when fine. */
export function timestampRefusal({ original, corrected }: EventTimes, receivedAt: number, limits: LimitsConfig): Refusal | undefined {
  if (!plausible(original) || !plausible(corrected)) {
    return { code: 'invalid_timestamp', reason: 'timestamp is outside the years 2000 to 2099' };
  }
  if (corrected > receivedAt + limits.maxFutureSeconds * 1000) {
    return { code: 'timestamp_in_future', reason: `timestamp is more than ${limits.maxFutureSeconds} seconds in the future` };
  }
  if (corrected < receivedAt - limits.maxAgeDays * dayMs) {
    return { code: 'timestamp_too_old', reason: `timestamp is more than ${limits.maxAgeDays} days in the past` };
  }
  return undefined;
}

/**
 * `context` with its `ip` anonymised (a copy; the same object when it has none). An `ip` that is not a
 * string (an array, say) is read as text, so no shape of it is stored whole: anything but an IP becomes ''.
 */
function anonymisedIp(context: Record<string, unknown>): Record<string, unknown> {
  return context.ip === undefined ? context : { ...context, ip: anonymizeIp(String(context.ip)) };
}

/** The refused event as kept in the quarantine: without identifiers if consent denies, with `context.ip` anonymised unless the source keeps full IPs. */
function quarantined(raw: unknown, denied: boolean, keepFullIp: boolean): unknown {
  const kept = denied ? stripRawIdentifiers(raw) : raw;
  if (keepFullIp || !isObject(kept) || !isObject(kept.context)) return kept;
  return { ...kept, context: anonymisedIp(kept.context) };
}

/**
 * How much larger than its body's bytes an event can be once parsed and serialised again: a number
 * literal is written in its shortest round-trip form, so `1e20` (4 bytes) becomes
 * `100000000000000000000` (21). Nothing else grows as much (an invalid UTF-8 byte becomes U+FFFD, 3 bytes).
 */
export const maxReserialisedGrowth = 21 / 4;
/** Fields the collector adds to an event beyond its body's bytes (the path's `type` on single endpoints). */
const addedFieldBytes = 64;
/** `,"context":` — what merging the batch context into an event without one adds besides the context. */
const contextKeyBytes = Buffer.byteLength(',"context":');

/**
 * The consent stored for an event whose analytics was denied (deniedConsent): its consent object, or for
 * RudderStack's `context.consentManagement` (and no `context.consent`) what that says in the same shape, so that
 * a marketing id it denies stays on record as for an event that keeps its ids.
 */
function appliedDenial(context: Record<string, unknown>, denials: readonly string[], analytics: AnalyticsIds, marketingIds: readonly string[] | undefined): Record<string, unknown> {
  const sent = isObject(context.consent) ? context.consent : isObject(context.consentManagement) ? consentManagementPreferences(context.consentManagement, analytics, marketingIds) : undefined;
  return deniedConsent(sent, denials, analytics);
}

/**
 * `batch` comes from readBatch (which checked its context's depth and size once for the request).
 * `bodyBytes`, the size of the request body as parsed (after gzip) when known, spares the per-event size
 * check when no event in the body can be stored larger than the event limit.
 */
export function processBatch(batch: BatchEnvelope, request: RequestContext, limits: LimitsConfig, bodyBytes = Infinity): ProcessedBatch {
  const eventBytes = (bodyBytes + addedFieldBytes) * maxReserialisedGrowth <= limits.eventBytes ? Infinity : limits.eventBytes;
  const sentAtMs = batch.sentAt ? parseClientTime(batch.sentAt) : NaN;
  const facts = {
    source: request.source,
    receivedAt: request.receivedAt,
    sentAt: plausible(sentAtMs) ? sentAtMs : undefined,
    ip: request.ip,
    userAgent: request.userAgent,
    maxClockSkewMs: limits.maxClockSkewSeconds * 1000,
    blockedIds: request.blockedIds,
  };
  const out: ProcessedBatch = { rows: [], quarantine: [], refusals: [], rejected: [], rejectedCodes: [], dropped: 0, stripped: 0, blockedIds: 0 };
  const blockedIds = request.blockedIds;
  const marketing = marketingKeys(request.marketingConsentIds);
  // One row per id and request: every refusal of an id on one day is the same row anyway.
  const recorded = new Set<string>();
  const refuse = (index: number, raw: unknown, refusal: Refusal, denied: boolean) => {
    out.rejected.push({ index, reason: refusal.reason });
    out.rejectedCodes.push(refusal.code);
    const kept = quarantined(raw, denied, request.keepFullIp);
    out.quarantine.push({ received_at: toDateTimeText(request.receivedAt), source: request.source, reason: refusal.reason, raw: rawText(kept) });
  };
  const mergeContext = batch.contextBytes > 0;
  // The batch context, prepared once: shared by the events that have no context of their own (it is
  // only read downstream), spread under the own context of the others.
  let batchContext = batch.context;
  // Server-side libraries send the end user's IP here; it must not outlive the anonymised `ip` column.
  if (!request.keepFullIp) batchContext = anonymisedIp(batchContext);
  // The batch context counts toward each event's size as it will be stored: its JSON plus the key.
  // An upper bound where the event's own context overrides some of its keys (checked exactly then).
  const extraBytes = mergeContext ? batch.contextBytes + contextKeyBytes : 0;
  const analytics = analyticsIds(request.analyticsConsentIds);
  // Read apart from the events' own consent: the merge below is shallow, so an event's own consent
  // object (one about marketing, say) would otherwise hide the batch's denial.
  const ofBatch = batchDenials(batch.context, analytics);

  batch.events.forEach((raw, index) => {
    // The batch's top-level context sits under each event's own (Segment's rule). Copied only when
    // changed: `raw` itself must stay as sent (a refused event is quarantined as it came).
    const own = isObject(raw) ? raw.context : undefined;
    let context = isObject(own) ? (mergeContext ? { ...batchContext, ...own } : own) : batchContext;
    if (!request.keepFullIp && isObject(own) && own.ip !== undefined) context = anonymisedIp(context);
    // Either denial wins, the event's or its batch's.
    const denials = eventDenials(own, ofBatch, analytics);
    const denied = denials.length > 0;
    // What the `consent` column gets for a stripped event, and what its refusal is read from.
    const applied = denied ? appliedDenial(context, denials, analytics, request.marketingConsentIds) : undefined;
    // Before the ids go (strip) or the event does (drop), valid or not: a refusal counts whatever else is wrong.
    const refusal = denied ? consentRefusal(raw, context, applied, request.receivedAt, marketing, blockedIds) : undefined;
    if (refusal && !recorded.has(`${refusal.id_kind}:${refusal.id_hash}`)) {
      recorded.add(`${refusal.id_kind}:${refusal.id_hash}`);
      out.refusals.push(refusal);
    }
    // `drop` means nothing of the event is stored: not as a row, and not its refusal in the quarantine
    // either (refused or not, it is a visitor's data the visitor did not agree to). Only its consent refusal
    // record above, which holds no event data.
    if (denied && request.consentPolicy === 'drop') {
      out.dropped += 1;
      return;
    }
    const merged = mergeContext && isObject(raw) && (own === undefined || own === null || isObject(own));
    // Depth: the event here, the batch context in readBatch (one level less, as it sits inside the event).
    let result = validateEvent(raw, { eventBytes, requireIds: !denied, extraBytes: merged ? extraBytes : 0, blockedIds });
    if (!result.ok && result.code === 'event_too_large' && merged && isObject(own)) {
      result = validateEvent({ ...raw, context }, { eventBytes, requireIds: !denied, blockedIds });
    }
    if (!result.ok) return refuse(index, raw, result, denied);
    result.event.context = context;
    const consent = applyConsentDecision(result.event, denied, request.consentPolicy);
    if (!consent.keep) {
      out.dropped += 1;
      return;
    }
    if (consent.stripped) out.stripped += 1;
    const times = eventTimes(consent.event, facts);
    const late = timestampRefusal(times, request.receivedAt, limits);
    if (late) return refuse(index, raw, late, denied);
    // `index` counts refused events too: what matters is the order the client sent them in.
    const row = eventRow(consent.event, consent.stripped ? { ...facts, ip: '' } : facts, times, index);
    // What was applied, not only what the event's own object says (it may grant what its batch denied).
    if (consent.stripped) row.consent = JSON.stringify(applied);
    // RudderStack's consent is not in `context.consent`: stored in its shape, for what analysts read there.
    else if (!isObject(context.consent) && isObject(context.consentManagement)) {
      row.consent = JSON.stringify(consentManagementPreferences(context.consentManagement, analytics, request.marketingConsentIds));
    }
    if (consent.event.blockedIds) out.blockedIds += 1;
    out.rows.push(row);
  });
  return out;
}
