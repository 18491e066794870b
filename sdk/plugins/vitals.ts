// Web Vitals (LCP, INP, CLS, FCP, TTFB) measured by Google's `web-vitals`, sent as one `Web Vitals`
// event per page load when the page is first hidden (tab switch, navigation away, close). What web-vitals
// measures after a back/forward-cache restore is not sent (the browser builds leave that code out).
import { onCLS, onFCP, onINP, onLCP, onTTFB, type Metric } from 'web-vitals';
import type { TagflowPlugin } from '../core/plugin';

/** Flat properties (`lcp`, `lcp_rating`, …) so SQL reads them with one JSONExtract each. */
export function vitalsProperties(metrics: Metric[]): Record<string, number | string> {
  const properties: Record<string, number | string> = {};
  for (const metric of metrics) {
    const name = metric.name.toLowerCase();
    properties[name] = Math.round(metric.value * (metric.name === 'CLS' ? 1000 : 1)) / (metric.name === 'CLS' ? 1000 : 1);
    properties[`${name}_rating`] = metric.rating;
  }
  return properties;
}

/**
 * Page-hide listeners of the plugin instances. Registered once when this module loads, before any
 * Tagflow instance exists: listeners of the window run in registration order, so the Web Vitals event is
 * queued before the core hands its unsent events to the page-hide beacon.
 */
const hideListeners = new Set<(event: Event) => void>();
if (typeof window !== 'undefined') {
  for (const type of ['visibilitychange', 'pagehide']) addEventListener(type, (event) => hideListeners.forEach((listener) => listener(event)), true);
}

/** The vitals plugin: `tagflow.use(vitalsPlugin())`. */
export function vitalsPlugin(): TagflowPlugin {
  return {
    name: 'vitals',
    setup(api) {
      const latest: Record<string, Metric> = {};
      let sent = false;
      const record = (metric: Metric) => {
        latest[metric.name] = metric;
      };
      for (const on of [onCLS, onFCP, onINP, onLCP, onTTFB]) on(record, { reportAllChanges: true });
      const send = (event: Event) => {
        if (sent || (event.type === 'visibilitychange' && document.visibilityState !== 'hidden')) return;
        const metrics = Object.values(latest);
        if (metrics.length === 0) return;
        sent = true;
        api.tagflow.track('Web Vitals', vitalsProperties(metrics));
        void api.tagflow.flush();
      };
      hideListeners.add(send);
      return () => hideListeners.delete(send);
    },
  };
}
