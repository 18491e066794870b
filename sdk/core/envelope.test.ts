import { describe, expect, it } from 'vitest';
import { browserContext, staticContext } from './context';
import { buildEvent } from './envelope';

const context = () => browserContext(staticContext());

describe('buildEvent', () => {
  it('builds a Segment Spec track event with identity and browser context', () => {
    const now = new Date('2026-01-02T03:04:05.678Z');
    const event = buildEvent('track', { event: 'Product Added', properties: { sku: 'a' } }, { anonymousId: 'anon-1', userId: 'user-1' }, context(), now);
    expect(event).toMatchObject({
      type: 'track',
      event: 'Product Added',
      properties: { sku: 'a' },
      anonymousId: 'anon-1',
      userId: 'user-1',
      timestamp: '2026-01-02T03:04:05.678Z',
      context: { library: { name: 'tagflow' }, page: { url: location.href, path: location.pathname } },
    });
    expect(event.messageId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('gives every event its own messageId and leaves out of its JSON the fields that were not given', () => {
    const a = JSON.parse(JSON.stringify(buildEvent('page', { name: undefined }, { anonymousId: 'x' }, context()))) as Record<string, unknown>;
    const b = buildEvent('page', {}, { anonymousId: 'x' }, context());
    expect(a.messageId).not.toBe(b.messageId);
    expect('name' in a).toBe(false);
    expect('userId' in a).toBe(false);
  });
});
