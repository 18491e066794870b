// Server-side consent: the browser SDK enforces consent too, but other clients (and old tags) may not,
// so the collector applies each source's policy to events whose consent (their own or their batch's)
// denies analytics.
import type { ConsentPolicy } from '../config';
import { isObject, type IncomingEvent } from './event';

/**
 * True for a value that refuses a purpose, as clients write it: `false`, `0`, or the text `denied`,
 * `false` or `0` in any case (CMPs, form values and server libraries send all of these). Anything else,
 * in particular an absent, null or empty value, is no denial: only an explicit refusal changes what is stored.
 */
export function isDenial(value: unknown): boolean {
  if (value === false || value === 0) return true;
  if (typeof value !== 'string') return false;
  const text = value.trim().toLowerCase();
  return text === 'denied' || text === 'false' || text === '0';
}

/**
 * The consent ids that mean analytics for a source, compared trimmed and in lower case: `analytics` always
 * (Segment's category, Ketch's purpose, the Tagflow SDK's), plus the ids the source names for its consent
 * platform (`analyticsConsentIds`: OneTrust's `C0002`, an iubenda purpose, a custom name).
 */
export interface AnalyticsIds {
  ids: ReadonlySet<string>;
  /** The ids as the source wrote them (for the stored reason of an allow-list without them). */
  names: readonly string[];
  /** The source named its platform's ids: then RudderStack's allow-list decides (see consentManagementDenials). */
  named: boolean;
}

const normalId = (id: string): string => id.trim().toLowerCase();

/** The analytics ids of a source that names `named` (none: `analytics` alone). */
export function analyticsIds(named?: readonly string[]): AnalyticsIds {
  const names = ['analytics', ...(named ?? []).filter((id) => normalId(id) !== 'analytics')];
  return { ids: new Set(names.map(normalId)), names, named: named !== undefined && named.length > 0 };
}

const defaultAnalyticsIds = analyticsIds();

/**
 * A RudderStack id list as strings. JS SDK v3 sends arrays; its early versions sent OneTrust's
 * `allowedConsentIds` as an object of id to group name, whose keys are the ids.
 */
function consentIdList(value: unknown): string[] {
  const list: unknown[] = Array.isArray(value) ? value : isObject(value) ? Object.keys(value) : [];
  return list.filter((id): id is string => typeof id === 'string' && id.trim() !== '');
}

/** The analytics ids among `list`, trimmed, each once. */
function analyticsAmong(list: readonly string[], analytics: AnalyticsIds): string[] {
  const found = new Map<string, string>();
  for (const id of list) if (analytics.ids.has(normalId(id)) && !found.has(normalId(id))) found.set(normalId(id), id.trim());
  return [...found.values()];
}

/**
 * Denials in RudderStack's `context.consentManagement` (`{ provider, allowedConsentIds, deniedConsentIds,
 * resolutionStrategy }`, sent by its JS SDK v3 and mobile SDKs, or by hand through its HTTP API).
 * - An analytics id in `deniedConsentIds` denies.
 * - An analytics id in neither list: when the source named its platform's ids, a non-empty
 *   `allowedConsentIds` without any of them denies, as RudderStack itself decides for a destination with
 *   consent settings (a custom platform may send the allow-list alone). When it did not, it is no denial:
 *   without the mapping the collector cannot tell whether the platform has an id called `analytics` at all
 *   (OneTrust's are C0001…), and reading its absence as a refusal would strip every visitor who accepted everything.
 * - Empty lists (the SDK before the platform answered, RudderStack's pre-consent tracking) decide nothing.
 * `provider` and `resolutionStrategy` are not read: the strategy combines the several categories of one
 * destination, while the analytics ids are names of one purpose.
 */
function consentManagementDenials(value: unknown, analytics: AnalyticsIds): string[] {
  if (!isObject(value)) return [];
  const denied = analyticsAmong(consentIdList(value.deniedConsentIds), analytics);
  if (denied.length > 0) return [`consentManagement.deniedConsentIds: ${denied.join(', ')}`];
  if (!analytics.named) return [];
  const allowed = consentIdList(value.allowedConsentIds);
  if (allowed.length === 0 || analyticsAmong(allowed, analytics).length > 0) return [];
  return [`consentManagement.allowedConsentIds: none of ${analytics.names.join(', ')}`];
}

/**
 * What a RudderStack `context.consentManagement` says, stored (column `consent`) in the shape of Segment's
 * `context.consent`, which analysts and `profiles.consent_state` read: `categoryPreferences` with each id
 * `true` (in `allowedConsentIds`) or `false` (in `deniedConsentIds`, which wins over a grant, as a denial among
 * grants does), and `analytics` as the analytics ids decide it (see consentManagementDenials): `true` when one
 * of them is allowed, `false` when one is denied or the source's named ids are missing from a non-empty
 * allow-list, absent when the lists do not say (OneTrust's ids without `analyticsConsentIds`); each of the
 * source's `marketingConsentIds` missing from a non-empty allow-list `false` (refused, as the allow-list grants
 * only what it names). Plus `provider`
 * when given. Empty lists (no decision yet) give `{}`, as an event without consent has: nothing for the latest
 * consent to show.
 */
export function consentManagementPreferences(value: unknown, analytics: AnalyticsIds = defaultAnalyticsIds, marketingIds: readonly string[] = []): Record<string, unknown> {
  if (!isObject(value)) return {};
  const allowed = consentIdList(value.allowedConsentIds).map((id) => id.trim());
  const denied = consentIdList(value.deniedConsentIds).map((id) => id.trim());
  if (allowed.length === 0 && denied.length === 0) return {};
  // A Map, then fromEntries: ids are the client's text, and `preferences["__proto__"] = true` would be lost.
  const preferences = new Map<string, boolean>();
  for (const id of allowed) preferences.set(id, true);
  for (const id of denied) preferences.set(id, false);
  // An allow-list names every purpose granted (OneTrust's, as RudderStack sends it): a marketing id of the source
  // that it leaves out is refused, as an analytics id is (consentManagementDenials). Stored as `false` so that the
  // exports to ad platforms read the refusal; an empty allow-list decides nothing.
  if (allowed.length > 0) {
    const listed = new Set([...allowed, ...denied].map(normalId));
    for (const id of marketingIds) if (id.trim() !== '' && !listed.has(normalId(id))) preferences.set(id.trim(), false);
  }
  if (consentManagementDenials(value, analytics).length > 0) preferences.set('analytics', false);
  else if (analyticsAmong(allowed, analytics).length > 0) preferences.set('analytics', true);
  const provider = typeof value.provider === 'string' && value.provider.trim() !== '' ? { provider: value.provider.trim() } : {};
  return { categoryPreferences: Object.fromEntries(preferences), ...provider };
}

/**
 * Where the context denies analytics, one entry per key that does, as a path in the context
 * (`consent.analytics_storage`, `consentManagement.deniedConsentIds: C0002`); empty when nothing does.
 * Read: Segment's `consent.categoryPreferences` (the entry of each analytics id: Segment's OneTrust wrapper
 * keys it by group id), a plain `consent.analytics`, Google Consent Mode's `consent.analytics_storage`, and
 * RudderStack's `consentManagement`. One denial among grants is a denial; no consent object means no denial
 * (Segment's rule).
 */
export function analyticsDenials(context: Record<string, unknown>, analytics: AnalyticsIds = defaultAnalyticsIds): string[] {
  const found: string[] = [];
  const consent = context.consent;
  if (isObject(consent)) {
    const preferences = consent.categoryPreferences;
    if (isObject(preferences)) {
      // Every key, for an id in any case (`Analytics`, `c0002`); a handful per event.
      for (const key in preferences) {
        if (Object.hasOwn(preferences, key) && analytics.ids.has(normalId(key)) && isDenial(preferences[key])) found.push(`consent.categoryPreferences.${key.trim()}`);
      }
    }
    if (isDenial(consent.analytics)) found.push('consent.analytics');
    if (isDenial(consent.analytics_storage)) found.push('consent.analytics_storage');
  }
  if (context.consentManagement !== undefined) found.push(...consentManagementDenials(context.consentManagement, analytics));
  return found;
}

/** The denials of a batch's context, each named as found there (`batch context.consent.analytics`). */
export function batchDenials(context: Record<string, unknown>, analytics: AnalyticsIds = defaultAnalyticsIds): string[] {
  return analyticsDenials(context, analytics).map((denial) => `batch context.${denial}`);
}

/**
 * The denials that apply to an event: those of its own context (`context.…`; read apart from its batch's, as
 * the merge of the two is shallow and an event's own consent object would hide the batch's) and its batch's
 * (batchDenials). Either denies; none means analytics is not denied.
 */
export function eventDenials(ownContext: unknown, ofBatch: readonly string[], analytics: AnalyticsIds = defaultAnalyticsIds): readonly string[] {
  if (!isObject(ownContext)) return ofBatch;
  const own = analyticsDenials(ownContext, analytics);
  // Per event, and most events deny nothing: the batch's list as it is, no copy.
  return own.length === 0 ? ofBatch : [...own.map((denial) => `context.${denial}`), ...ofBatch];
}

/**
 * The consent stored (column `consent`) for an event whose analytics was denied: its consent object as
 * sent (after the batch merge), with every analytics key it carries saying so — `categoryPreferences.analytics`
 * `false` (added when absent, as that is what analysts read), the entries of the source's other analytics ids
 * `false`, and a plain `analytics` or `analytics_storage` that does not deny already `false` or `denied` —
 * and `analyticsDeniedBy`, the denials that decided (the batch's may hide under the event's own object: the
 * merge is shallow). The `context` column keeps the consent as the client sent it.
 */
export function deniedConsent(consent: unknown, denials: readonly string[], analytics: AnalyticsIds = defaultAnalyticsIds): Record<string, unknown> {
  const sent = isObject(consent) ? consent : {};
  const preferences = isObject(sent.categoryPreferences) ? sent.categoryPreferences : {};
  const applied: Record<string, unknown> = { ...sent };
  applied.categoryPreferences = {
    ...Object.fromEntries(Object.entries(preferences).map(([key, value]) => [key, analytics.ids.has(normalId(key)) ? false : value])),
    analytics: false,
  };
  if ('analytics' in sent && !isDenial(sent.analytics)) applied.analytics = false;
  if ('analytics_storage' in sent && !isDenial(sent.analytics_storage)) applied.analytics_storage = 'denied';
  applied.analyticsDeniedBy = [...denials];
  return applied;
}

/**
 * Ids an ad or e-mail platform puts in a landing URL, one per click or per recipient: with one, the
 * platform (or anyone holding its reports) can tell who the visitor was. Compared in lower case.
 */
export const clickIdParameters: ReadonlySet<string> = new Set([
  'gclid', 'gbraid', 'wbraid', 'dclid', '_gl', // Google Ads, Campaign Manager; _gl carries the Analytics client id across domains
  'fbclid', // Meta
  'msclkid', // Microsoft Ads
  'yclid', 'ysclid', // Yandex
  'ttclid', // TikTok
  'twclid', // X
  'li_fat_id', // LinkedIn
  'epik', // Pinterest
  'sccid', // Snapchat
  'rdt_cid', // Reddit
  'irclickid', // Impact
  'mc_eid', // Mailchimp (the recipient)
  '_kx', // Klaviyo (the recipient)
]);

/** True when a `name=value` query segment names a click id. */
function isClickIdSegment(segment: string): boolean {
  const name = segment.split('=', 1)[0] ?? '';
  let decoded = name;
  try {
    decoded = decodeURIComponent(name);
  } catch {
    // A malformed escape: compare the name as written.
  }
  return clickIdParameters.has(decoded.toLowerCase());
}

/**
 * The URL (absolute, relative, or only its `?search`) without click-id parameters, in its query and in
 * its fragment (single-page apps route with `#/path?…`); every other character stays as it was.
 */
export function withoutClickIds(url: string): string {
  // Each part after the first starts with its delimiter: "https://x/p", "?gclid=1", "&a=2", "#top".
  const parts = url.split(/(?=[?&#])/);
  const kept: string[] = [];
  // The `?` or `#` of a removed first parameter, passed on to the next `&` parameter.
  let opener: string | undefined;
  for (const part of parts) {
    const delimiter = part[0];
    const isParameter = delimiter === '?' || delimiter === '&' || delimiter === '#';
    if (isParameter && isClickIdSegment(part.slice(1))) {
      if (delimiter !== '&') opener = delimiter;
      continue;
    }
    if (opener && delimiter === '&') kept.push(opener + part.slice(1));
    else kept.push(part);
    opener = undefined;
  }
  return kept.join('');
}

/** Context keys that identify a person, a device, an account or a place; removed under the strip policy. */
const identifyingContext = ['traits', 'ip', 'sessionId', 'externalIds', 'groupId', 'location'];
const identifyingDevice = ['id', 'advertisingId', 'token'];
/** Segment's `context.referrer.id`: the referring ad network's id for this visitor (a click id by another name). */
const identifyingReferrer = ['id'];
/** Keys that may hold a URL (or its query) carrying click ids, in `context.page`, `context.referrer` and `properties`. */
const urlKeys = ['url', 'search', 'referrer', 'link'];

const without = (source: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> =>
  Object.fromEntries(Object.entries(source).filter(([key]) => !keys.includes(key)));

/** The object with click ids taken out of its URL-valued keys (the same object when it has none). */
function withCleanUrls(source: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key of urlKeys) {
    const value = source[key];
    if (typeof value !== 'string') continue;
    const clean = withoutClickIds(value);
    if (clean !== value) (copy ??= { ...source })[key] = clean;
  }
  return copy ?? source;
}

function stripContext(source: Record<string, unknown>): Record<string, unknown> {
  const context = without(source, identifyingContext);
  if (isObject(context.device)) context.device = without(context.device, identifyingDevice);
  if (isObject(context.referrer)) context.referrer = withCleanUrls(without(context.referrer, identifyingReferrer));
  if (isObject(context.page)) context.page = withCleanUrls(context.page);
  if (isObject(context.campaign)) {
    context.campaign = Object.fromEntries(Object.entries(context.campaign).filter(([key]) => !clickIdParameters.has(key.toLowerCase())));
  }
  return context;
}

/**
 * The event without anonymousId, userId, previousId, groupId, traits, identifying context, and the click
 * ids of its page URLs (in context and in properties: Segment's page events repeat them there).
 */
export function stripIdentifiers(event: IncomingEvent): IncomingEvent {
  // The placeholders an event was sent with go with its ids: what a client sent there could be an identifier.
  const { blockedIds: _blocked, ...kept } = event;
  return {
    ...kept,
    anonymousId: '',
    userId: '',
    previousId: '',
    groupId: '',
    traits: {},
    properties: withCleanUrls(event.properties),
    context: stripContext(event.context),
  };
}

/**
 * The same for an event that failed validation, before it is quarantined: a refused event whose consent
 * denies analytics must not keep the identifiers an accepted one would lose.
 */
export function stripRawIdentifiers(raw: unknown): unknown {
  if (!isObject(raw)) return raw;
  const { anonymousId: _a, userId: _u, previousId: _p, groupId: _g, traits: _t, ...rest } = raw;
  if (isObject(rest.properties)) rest.properties = withCleanUrls(rest.properties);
  return isObject(rest.context) ? { ...rest, context: stripContext(rest.context) } : rest;
}

export type ConsentOutcome = { keep: true; event: IncomingEvent; stripped: boolean } | { keep: false };

/**
 * Applies a source's policy to an event, once it is known whether its consent denies analytics
 * (the event's own or its batch's: see processBatch).
 */
export function applyConsentDecision(event: IncomingEvent, denied: boolean, policy: ConsentPolicy): ConsentOutcome {
  if (!denied) return { keep: true, event, stripped: false };
  if (policy === 'drop') return { keep: false };
  return { keep: true, event: stripIdentifiers(event), stripped: true };
}
