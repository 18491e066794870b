// Turns a validated event into an `events` row: every column present, with the exact type
// (ClickHouse 18.16 fills omitted JSON fields with zeros and refuses nulls).
import { randomUUID } from 'node:crypto';
import { isObject, type IncomingEvent } from './event';
import { parseClientTime } from './iso-time';
import { blockedKey, noBlockedIds, type BlockedIds, type SentPlaceholders } from './placeholder-ids';
import { isVisitorsAgent, parseUserAgent } from './user-agent';

/** One row of the `events` table, column for column (see sql/migrations/001_events.sql). */
export interface EventRow {
  message_id: string;
  source: string;
  type: string;
  event: string;
  name: string;
  anonymous_id: string;
  user_id: string;
  group_id: string;
  previous_id: string;
  session_id: string;
  timestamp: string;
  timestamp_ms: number;
  original_timestamp: string;
  sent_at: string;
  received_at: string;
  properties: string;
  traits: string;
  context: string;
  page_url: string;
  page_path: string;
  page_referrer: string;
  page_title: string;
  campaign_source: string;
  campaign_medium: string;
  campaign_name: string;
  consent: string;
  ip: string;
  user_agent: string;
  library_name: string;
  library_version: string;
  locale: string;
  timezone: string;
  // Enrichment (migration 002).
  browser: string;
  browser_version: string;
  os: string;
  os_version: string;
  device_type: string;
  device_vendor: string;
  device_model: string;
  is_bot: number;
  /** The event's index in its request's batch (migration 034): orders a person's events within one ms. */
  batch_position: number;
  /**
   * The e-mail and phone of `context.traits` (migration 043), which Segment's mobile libraries and RudderStack's
   * SDKs repeat on every event: what the identity job links to the userId (see contextIdentity). '' for most rows.
   */
  context_identity: string;
}

/** What the request, not the event, tells us. */
export interface RequestFacts {
  source: string;
  receivedAt: number;
  /** The batch's sentAt in ms, when it had a plausible one. */
  sentAt: number | undefined;
  ip: string;
  userAgent: string;
  /** Skew correction moves a timestamp by at most this much (unbounded when absent). */
  maxClockSkewMs?: number;
  /** The config's blockedIds: an e-mail or phone of context.traits on it is left out of context_identity. */
  blockedIds?: BlockedIds;
}

// Re-exported for the modules that read client times through this one (batch, process).
export { parseClientTime };

/** 'YYYY-MM-DD hh:mm:ss' in UTC: the DateTime text both ClickHouse versions parse. */
export function toDateTimeText(ms: number): string {
  // Rows of one request share a few seconds (client time, corrected time, received time) and formatting
  // a Date is the costly part, so the last few seconds' texts are kept.
  const second = Math.floor(ms / 1000);
  let text = recentSeconds.get(second);
  if (text === undefined) {
    text = new Date(second * 1000).toISOString().slice(0, 19).replace('T', ' ');
    if (recentSeconds.size >= recentSecondsKept) recentSeconds.delete(recentSeconds.keys().next().value as number);
    recentSeconds.set(second, text);
  }
  return text;
}
const recentSeconds = new Map<number, string>();
const recentSecondsKept = 8;

/**
 * Segment's skew correction: timestamp = receivedAt − (sentAt − originalTimestamp), with the shift
 * bounded by `maxSkewMs` so a forged or broken sentAt cannot move an event arbitrarily far.
 */
export function correctedTime(original: number, sentAt: number | undefined, receivedAt: number, maxSkewMs = Infinity): number {
  if (sentAt === undefined) return original;
  const shift = Math.max(-maxSkewMs, Math.min(maxSkewMs, receivedAt - sentAt));
  return original + shift;
}

const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * The string with lone UTF-16 surrogates (half an emoji, cut by a client) replaced by U+FFFD: JSON.stringify
 * writes them as `\ud800` escapes, which ClickHouse refuses, failing the whole insert.
 */
export function wellFormed(value: string): string {
  return /[\ud800-\udfff]/.test(value) ? value.replace(loneSurrogate, '\ufffd') : value;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '';
}

function section(context: Record<string, unknown>, key: string): Record<string, unknown> {
  const value = context[key];
  return isObject(value) ? value : {};
}

// Columns holding JSON.stringify output: it escapes lone surrogates itself, so they need no scan
// (and they are the longest strings of a row).
const jsonColumns = new Set(['properties', 'traits', 'context', 'consent', 'context_identity']);

const surrogate = /[\ud800-\udfff]/;

/**
 * `{"email":…,"phone":…}` (compact, only the fields present) from `context.traits` of an event that is no identify or
 * alias (their own traits are read already) and has a userId (without one there is nothing to link the e-mail to);
 * '' otherwise. An e-mail counts when it is a string, a phone when it is a string or a number (written as a string):
 * the identity job normalizes both (identity/identifiers.ts). Values on the config's blockedIds are left out. One narrow column, so the job, re-reading a day of
 * events every run, never parses `context`.
 */
export function contextIdentity(type: string, userId: string, context: Record<string, unknown>, blocked: BlockedIds = noBlockedIds): string {
  if (!userId || type === 'identify' || type === 'alias') return '';
  const traits = context.traits;
  if (!isObject(traits)) return '';
  const { email, phone } = traits;
  const found: { email?: string; phone?: string } = {};
  // A blocked value as written; the identity job also compares the normalised forms (identifiers.ts).
  if (typeof email === 'string' && !blocked.has(blockedKey(email))) found.email = email;
  if ((typeof phone === 'string' || typeof phone === 'number') && !blocked.has(blockedKey(String(phone)))) found.phone = String(phone);
  return found.email === undefined && found.phone === undefined ? '' : JSON.stringify(found);
}

/**
 * The context as stored: what placeholder ids were sent stays visible to analysts as context.blockedIds
 * (docs/collector.md). That key is the collector's alone: a client's own is dropped, so analysts can trust it, and an
 * identifier a client put there does not outlive a consent strip that took the event's ids. First, because
 * visitParamExtractRaw reads the first key of that name at any depth (a client's `page.blockedIds` would do).
 */
function storedContext(context: Record<string, unknown>, sent: SentPlaceholders | undefined): Record<string, unknown> {
  if (!sent && context.blockedIds === undefined) return context;
  const { blockedIds: _client, ...rest } = context;
  return sent ? { blockedIds: sent, ...rest } : rest;
}

/** The times of one event in ms: as the client stamped it, skew-corrected, and when it was sent. */
export interface EventTimes {
  original: number;
  corrected: number;
  sent: number;
}

export function eventTimes(event: IncomingEvent, facts: RequestFacts): EventTimes {
  const sent = facts.sentAt ?? facts.receivedAt;
  const original = event.timestamp ? parseClientTime(event.timestamp) : sent;
  return { original, corrected: correctedTime(original, facts.sentAt, facts.receivedAt, facts.maxClockSkewMs), sent };
}

/** The row of a validated event, its text columns free of lone surrogates (JSON writers need that). */
export function toEventRow(event: IncomingEvent, facts: RequestFacts): EventRow {
  const row = eventRow(event, facts) as unknown as Record<string, unknown>;
  // One scan of all text columns joined (almost always clean) instead of one per column.
  let texts = '';
  for (const key in row) {
    const value = row[key];
    if (typeof value === 'string' && !jsonColumns.has(key)) texts += value;
  }
  if (!surrogate.test(texts)) return row as unknown as EventRow;
  for (const key in row) {
    const value = row[key];
    if (typeof value === 'string' && !jsonColumns.has(key)) row[key] = wellFormed(value);
  }
  return row as unknown as EventRow;
}

/**
 * The row of a validated event, for a writer that encodes text as UTF-8 (the TabSeparated spool),
 * which turns lone UTF-16 surrogates into U+FFFD by itself. `position`: the event's index in its request's
 * batch (0 for a single event), the order its client sent it in.
 */
export function eventRow(event: IncomingEvent, facts: RequestFacts, times: EventTimes = eventTimes(event, facts), position = 0): EventRow {
  const { original, corrected, sent } = times;
  // The batch-level context is already merged in (processBatch), so the event's context is complete.
  const context = event.context;
  const page = section(context, 'page');
  const campaign = section(context, 'campaign');
  const library = section(context, 'library');
  const consent = section(context, 'consent');
  const ownAgent = text(context.userAgent);
  const userAgent = ownAgent || facts.userAgent;
  const agent = parseUserAgent(userAgent);
  const libraryName = text(library.name);
  // is_bot judges the visitor: a server's or script's own User-Agent is stored and parsed, but is no crawler.
  // The person-level views leave bots out (the identity job; collector/sql/jobs/fresh_events.sql).
  const bot = agent.bot && isVisitorsAgent(libraryName, ownAgent, userAgent);
  const properties = event.properties;
  return {
    message_id: event.messageId ?? randomUUID(),
    source: facts.source,
    type: event.type,
    event: event.event,
    name: event.name,
    anonymous_id: event.anonymousId,
    user_id: event.userId,
    group_id: event.groupId,
    previous_id: event.previousId,
    session_id: text(context.sessionId),
    timestamp: toDateTimeText(corrected),
    timestamp_ms: corrected,
    original_timestamp: toDateTimeText(original),
    sent_at: toDateTimeText(sent),
    received_at: toDateTimeText(facts.receivedAt),
    properties: JSON.stringify(properties),
    traits: JSON.stringify(event.traits),
    context: JSON.stringify(storedContext(context, event.blockedIds)),
    page_url: text(page.url ?? properties.url),
    page_path: text(page.path ?? properties.path),
    page_referrer: text(page.referrer ?? properties.referrer),
    page_title: text(page.title ?? properties.title),
    campaign_source: text(campaign.source),
    campaign_medium: text(campaign.medium),
    campaign_name: text(campaign.name),
    consent: JSON.stringify(consent),
    ip: facts.ip,
    user_agent: userAgent,
    library_name: libraryName,
    library_version: text(library.version),
    locale: text(context.locale),
    timezone: text(context.timezone),
    browser: agent.browser,
    browser_version: agent.browserVersion,
    os: agent.os,
    os_version: agent.osVersion,
    device_type: agent.deviceType,
    device_vendor: agent.deviceVendor,
    device_model: agent.deviceModel,
    is_bot: bot ? 1 : 0,
    batch_position: position,
    context_identity: contextIdentity(event.type, event.userId, context, facts.blockedIds),
  };
}
