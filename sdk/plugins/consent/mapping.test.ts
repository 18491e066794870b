import { describe, expect, it } from 'vitest';
import { consentModeSignal } from './gcm';
import { purposesFromTcf } from './tcf';

describe('TCF v2.2 → purposes', () => {
  it('grants a purpose only when all its TCF purposes have consent', () => {
    const consents = { 1: true, 8: true, 9: true, 2: true, 3: false };
    expect(purposesFromTcf({ gdprApplies: true, eventStatus: 'tcloaded', purpose: { consents } })).toEqual({ analytics: true, marketing: false, personalization: false });
  });

  it('waits while the CMP shows its UI, and grants all where GDPR does not apply', () => {
    expect(purposesFromTcf({ gdprApplies: true, eventStatus: 'cmpuishown', purpose: { consents: { 1: true } } })).toBeUndefined();
    expect(purposesFromTcf({ gdprApplies: false, eventStatus: 'tcloaded' })).toEqual({ analytics: true, marketing: true, personalization: true });
  });

  it('takes a custom mapping', () => {
    expect(purposesFromTcf({ eventStatus: 'useractioncomplete', purpose: { consents: { 1: true } } }, { analytics: [1] })).toEqual({ analytics: true });
  });
});

describe('Google Consent Mode v2 → purposes', () => {
  const gtagArgs = (...args: unknown[]) => (function (..._a: unknown[]) {
    // gtag pushes its `arguments` object, not an array
    return arguments;
  })(...args);

  it('reads update and default commands from gtag arguments', () => {
    expect(consentModeSignal(gtagArgs('consent', 'update', { analytics_storage: 'granted', ad_storage: 'granted', ad_user_data: 'denied' }))).toEqual({
      command: 'update',
      preferences: { analytics: true, marketing: false },
    });
    expect(consentModeSignal(['consent', 'default', { personalization_storage: 'denied' }])).toEqual({ command: 'default', preferences: { personalization: false } });
  });

  it('keeps only the denials of a default, region-scoped or not: grants come from updates', () => {
    expect(consentModeSignal(['consent', 'default', { analytics_storage: 'granted', ad_storage: 'denied' }])).toEqual({ command: 'default', preferences: { marketing: false } });
    expect(consentModeSignal(['consent', 'default', { analytics_storage: 'granted', region: ['US'] }])).toEqual({ command: 'default', preferences: {} });
  });

  it('ignores everything else', () => {
    expect(consentModeSignal({ event: 'purchase' })).toBeUndefined();
    expect(consentModeSignal(['config', 'G-1'])).toBeUndefined();
    expect(consentModeSignal(['consent', 'revoke', {}])).toBeUndefined();
    expect(consentModeSignal(null)).toBeUndefined();
  });
});
