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
 * True when the context's consent object denies analytics, in any of the shapes clients send:
 * Segment's `categoryPreferences.analytics`, a plain `analytics`, or Google Consent Mode's
 * `analytics_storage`; one denial among grants is a denial. No consent object means no denial (Segment's rule).
 */
export function analyticsDenied(context: Record<string, unknown>): boolean {
  const consent = context.consent;
  if (!isObject(consent)) return false;
  const preferences = isObject(consent.categoryPreferences) ? consent.categoryPreferences : {};
  return isDenial(preferences.analytics) || isDenial(consent.analytics) || isDenial(consent.analytics_storage);
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
  return {
    ...event,
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

/** Applies a source's policy to an event whose whole consent is in `context`. */
export function applyConsentPolicy(event: IncomingEvent, context: Record<string, unknown>, policy: ConsentPolicy): ConsentOutcome {
  return applyConsentDecision(event, analyticsDenied(context), policy);
}
