// Server-side consent: the browser SDK enforces consent too, but other clients (and old tags) may not,
// so the collector applies each source's policy to events whose context.consent denies analytics.
import type { ConsentPolicy } from '../config';
import { isObject, type IncomingEvent } from './event';

/**
 * True when the consent object denies analytics, in any of the shapes clients send:
 * Segment's `categoryPreferences.analytics: false`, a plain `analytics: false | "denied"`, or
 * Google Consent Mode's `analytics_storage: "denied"`. No consent object means no denial (Segment's rule).
 */
export function analyticsDenied(context: Record<string, unknown>): boolean {
  const consent = context.consent;
  if (!isObject(consent)) return false;
  const preferences = isObject(consent.categoryPreferences) ? consent.categoryPreferences : {};
  const denied = (value: unknown) => value === false || value === 'denied';
  return denied(preferences.analytics) || denied(consent.analytics) || denied(consent.analytics_storage);
}

/** Context keys that identify a person or a device; removed under the strip policy. */
const identifyingContext = ['traits', 'ip', 'sessionId', 'externalIds'];
const identifyingDevice = ['id', 'advertisingId', 'token'];

function stripContext(source: Record<string, unknown>): Record<string, unknown> {
  const context = Object.fromEntries(Object.entries(source).filter(([key]) => !identifyingContext.includes(key)));
  if (isObject(context.device)) context.device = Object.fromEntries(Object.entries(context.device).filter(([key]) => !identifyingDevice.includes(key)));
  return context;
}

/** The event without anonymousId, userId, previousId, traits and identifying context. */
export function stripIdentifiers(event: IncomingEvent): IncomingEvent {
  return { ...event, anonymousId: '', userId: '', previousId: '', traits: {}, context: stripContext(event.context) };
}

/**
 * The same for an event that failed validation, before it is quarantined: a refused event whose consent
 * denies analytics must not keep the identifiers an accepted one would lose.
 */
export function stripRawIdentifiers(raw: unknown): unknown {
  if (!isObject(raw)) return raw;
  const { anonymousId: _a, userId: _u, previousId: _p, traits: _t, ...rest } = raw;
  return isObject(rest.context) ? { ...rest, context: stripContext(rest.context) } : rest;
}

export type ConsentOutcome = { keep: true; event: IncomingEvent; stripped: boolean } | { keep: false };

/** Applies a source's policy to an event whose merged context is `context`. */
export function applyConsentPolicy(event: IncomingEvent, context: Record<string, unknown>, policy: ConsentPolicy): ConsentOutcome {
  if (!analyticsDenied(context)) return { keep: true, event, stripped: false };
  if (policy === 'drop') return { keep: false };
  return { keep: true, event: stripIdentifiers(event), stripped: true };
}
