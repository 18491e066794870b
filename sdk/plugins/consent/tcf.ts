// Pure mapping of an IAB TCF v2.2 CMP answer (`__tcfapi('addEventListener', 2, cb)`) onto purposes.
import type { Preferences } from './purposes';

/** The parts of a TCF v2.2 TCData that the mapping reads. */
export interface TcData {
  gdprApplies?: boolean;
  eventStatus?: string;
  purpose?: { consents?: Record<string, boolean> };
}

/** Which TCF purposes each Tagflow purpose needs (all of them). */
export type TcfMapping = Record<string, number[]>;

/**
 * Storage (1) is needed by all; measurement of content (8) and audiences (9) for analytics; basic and
 * personalised ads (2, 3, 4) and ad measurement (7) for marketing; personalised content (5, 6) for
 * personalisation.
 */
export const defaultTcfMapping: TcfMapping = { analytics: [1, 8, 9], marketing: [1, 2, 3, 4, 7], personalization: [1, 5, 6] };

/**
 * The visitor's choices from a TCData, or undefined while they have not decided (the CMP's UI is
 * showing). Where GDPR does not apply, every purpose is granted.
 */
export function purposesFromTcf(data: TcData, mapping: TcfMapping = defaultTcfMapping): Preferences | undefined {
  if (data.eventStatus !== 'tcloaded' && data.eventStatus !== 'useractioncomplete') return undefined;
  const consents = data.purpose?.consents ?? {};
  const preferences: Preferences = {};
  for (const [purpose, needed] of Object.entries(mapping)) {
    preferences[purpose] = data.gdprApplies === false || needed.every((n) => consents[n] === true);
  }
  return preferences;
}
