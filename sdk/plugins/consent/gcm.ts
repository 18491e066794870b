// Pure mapping of Google Consent Mode v2 signals (`gtag('consent', 'default' | 'update', {...})`, which
// gtag pushes onto dataLayer as an `arguments` object) onto purposes.
import { gtagArguments } from '../datalayer';
import type { Preferences } from './purposes';

/** A Consent Mode command found in a dataLayer entry. */
export interface ConsentModeSignal {
  command: 'default' | 'update';
  preferences: Preferences;
}

/** Which Consent Mode signals each purpose needs (all that are present must be granted). */
const signals: Record<string, string[]> = {
  analytics: ['analytics_storage'],
  marketing: ['ad_storage', 'ad_user_data', 'ad_personalization'],
  personalization: ['personalization_storage'],
};

/** The Consent Mode command in a dataLayer entry (a `default` keeps only its denials), or undefined when the entry is something else. */
export function consentModeSignal(entry: unknown): ConsentModeSignal | undefined {
  const [name, command, values] = gtagArguments(entry) ?? [];
  if (name !== 'consent' || (command !== 'default' && command !== 'update') || typeof values !== 'object' || values === null) return undefined;
  const given = values as Record<string, unknown>;
  const preferences: Preferences = {};
  for (const [purpose, needed] of Object.entries(signals)) {
    const present = needed.filter((signal) => given[signal] !== undefined);
    const granted = present.every((signal) => given[signal] === 'granted');
    // A default may only deny: Google's own setup grants by default outside the regions it lists
    // (`region: ['DE', ...]`), which we cannot tell apart, so grants come only from an update, a CMP or the visitor.
    // Its denials count wherever the visitor is (`region` is not read): denying too widely holds events until
    // an update; ignoring a region's denial would track the visitors it protects.
    if (present.length > 0 && (command === 'update' || !granted)) preferences[purpose] = granted;
  }
  return { command, preferences };
}
