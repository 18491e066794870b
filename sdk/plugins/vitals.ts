// Web Vitals (LCP, INP, CLS, FCP, TTFB) measured by Google's `web-vitals`, sent as one `Web Vitals`
// event per page load, with the load's path, when the page is first hidden (tab switch, navigation away,
// close). What web-vitals measures after a back/forward-cache restore is not sent. The browser builds
// leave out the web-vitals code this plugin never needs (scripts/web-vitals-lean.mjs): they rely on it
// passing every metric `{ reportAllChanges: true }` and reading only a metric's name, value and rating,
// and fail when this file does otherwise.
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

/** The vitals plugin: `tagflow.use(vitalsPlugin())`. */
export function vitalsPlugin(): TagflowPlugin {
  return {
    name: 'vitals',
    setup(api) {
      const latest: Record<string, Metric> = {};
      // The page load's path: LCP, FCP and TTFB describe it, even when an SPA has moved to another route by the
      // time the page is hidden (the event's own context.page is that route). CrUX files the load's INP and CLS
      // under it too.
      const path = location.pathname;
      let sent = false;
      const record = (metric: Metric) => {
        latest[metric.name] = metric;
      };
      for (const on of [onCLS, onFCP, onINP, onLCP, onTTFB]) on(record, { reportAllChanges: true });
      // Bubble phase: web-vitals finalises its values in capture-phase listeners of this same event (some
      // added after this one), which all run first. A page being left fires pagehide before
      // visibilitychange: the core beacons an event tracked that late.
      const send = () => {
        if (sent || document.visibilityState !== 'hidden') return;
        const metrics = Object.values(latest);
        if (metrics.length === 0) return;
        sent = true;
        api.tagflow.track('Web Vitals', { ...vitalsProperties(metrics), path });
        void api.tagflow.flush();
      };
      addEventListener('visibilitychange', send);
      return () => removeEventListener('visibilitychange', send);
    },
  };
}
