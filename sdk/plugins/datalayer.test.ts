import { afterEach, describe, expect, it } from 'vitest';
import { createPluginHost } from '../../test/support/plugin-host';
import { fireTag, watchDataLayer } from './datalayer';
import { dataLayerBridge } from './datalayer-bridge';
import { tagsPlugin } from './tags/tags';

type W = Window & { dataLayer?: unknown[]; gtag?: (...args: unknown[]) => void; gtagCalls?: number };
const stops: (() => void)[] = [];
const watch = (onEntry: (entry: unknown) => void) => stops.push(watchDataLayer('dataLayer', onEntry));

afterEach(() => {
  stops.splice(0).forEach((stop) => stop());
  delete (window as W).dataLayer;
  delete (window as W).gtag;
});

describe('watchDataLayer', () => {
  it('does not pass on what a tag pushes while it fires, also nested and through another tool’s push wrapper', () => {
    const seen: unknown[] = [];
    watch((entry) => seen.push(entry));
    const layer = (window as W).dataLayer!;
    // Another tool wraps push after us and fires a tag of its own synchronously on what it hears.
    const inner = layer.push;
    layer.push = function (this: unknown[], ...entries: unknown[]) {
      const length = inner.apply(this, entries);
      if (entries.includes('nested')) fireTag(() => layer.push({ event: 'from the nested tag' }));
      return length;
    };
    fireTag(() => {
      layer.push({ event: 'from a tag' });
      layer.push('nested'); // a primitive: passed on to no one, and nothing breaks
      layer.push({ event: 'after the nested tag' });
    });
    layer.push({ event: 'the site' });
    expect(seen).toEqual([{ event: 'the site' }]);
  });

  it('does not pass on what a tag pushed before it started watching, but the site’s earlier pushes it does', () => {
    watch(() => undefined); // a watcher is on the layer while the tag fires
    const layer = (window as W).dataLayer!;
    layer.push({ event: 'site, before' });
    fireTag(() => layer.push({ event: 'tag' }));
    const seen: unknown[] = [];
    watch((entry) => seen.push(entry));
    expect(seen).toEqual([{ event: 'site, before' }]);
  });

  it('passes on entries again after a tag that failed', () => {
    const seen: unknown[] = [];
    watch((entry) => seen.push(entry));
    expect(() =>
      fireTag(() => {
        throw new Error('tag bug');
      }),
    ).toThrow('tag bug');
    (window as W).dataLayer!.push({ event: 'site' });
    expect(seen).toEqual([{ event: 'site' }]);
  });
});

describe('GA4 bridge with a tag that forwards orders to GA4', () => {
  const order = { id: 'order', type: 'track', event: 'Order Completed' };
  const start = (tag: Record<string, unknown>) => {
    const w = window as W;
    w.dataLayer = [];
    w.gtagCalls = 0;
    w.gtag = function () {
      w.gtagCalls!++;
      w.dataLayer!.push(arguments);
    };
    const host = createPluginHost();
    const tags = tagsPlugin({ container: { triggers: [order], variables: [{ name: 'oid', type: 'property', key: 'order_id' }], tags: [{ ...tag, id: 'ga4', triggers: ['order'] }] }, globals: ['gtag'] });
    const bridge = dataLayerBridge();
    for (const plugin of [tags, bridge]) {
      const stop = plugin.setup!.bind(plugin);
      host.use({ ...plugin, setup: (api) => void stops.push(stop(api) as () => void) });
    }
    host.tagflow.track('Order Completed', { order_id: 'O-1' });
    return host;
  };

  it('tracks the order once when the tag calls gtag', () => {
    const host = start({ type: 'global', name: 'gtag', args: ['event', 'purchase', { transaction_id: '{{oid}}', value: 1, currency: 'EUR' }] });
    expect(host.names()).toEqual(['Order Completed']);
    expect((window as W).gtagCalls).toBe(1);
  });

  it('tracks the order once when the tag pushes onto the dataLayer', () => {
    const host = start({ type: 'dataLayer', data: { event: 'purchase', ecommerce: { transaction_id: '{{oid}}', value: 1, items: [] } } });
    expect(host.names()).toEqual(['Order Completed']);
    expect((window as W).dataLayer).toHaveLength(1);
  });
});
