// The GA4 dataLayer bridge: GA4 e-commerce pushes that a GTM shop already makes become Segment
// Ecommerce v2 events, with no new code on the site.
import type { TagflowPlugin } from '../core/plugin';
import { watchDataLayer } from './datalayer';
import { fromGa4 } from './ecommerce/ga4';

export interface DataLayerBridgeOptions {
  /** The global array to watch (default `dataLayer`). */
  name?: string;
}

/**
 * Tracks GA4 e-commerce dataLayer pushes (also those made before the SDK loaded) as Segment events; not
 * those the tag manager's tags make (a tag forwarding orders to GA4 would otherwise loop).
 */
export function dataLayerBridge(options: DataLayerBridgeOptions = {}): TagflowPlugin {
  return {
    name: 'datalayer-bridge',
    setup(api) {
      return watchDataLayer(options.name ?? 'dataLayer', (entry) => {
        const mapped = fromGa4(entry);
        if (!mapped) return;
        if ('error' in mapped) api.log('dataLayer push ignored:', mapped.error);
        else for (const { event, properties } of mapped.events) api.tagflow.track(event, properties);
      });
    },
  };
}
