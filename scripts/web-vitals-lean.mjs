// Rollup plugin for the browser IIFE builds: bundles web-vitals from its unminified ES modules (not its
// pre-minified file) so our terser can mangle its private `_` properties together with our code, and
// replaces or rewrites some of its code, leaving out what can never change what the vitals plugin sends
// (one Web Vitals event per page load, at the first hide, with each metric's value and rating):
// - the plugin passes every metric `{ reportAllChanges: true }` and no other option, so LCP's code that
//   keeps only the last entry of a batch otherwise, and INP's custom `durationThreshold`, are left out
//   (~0.02 KB brotli);
// - soft navigations are opt-in (`reportSoftNavs: true`), which the plugin never passes (~0.25 KB brotli).
//   With them off, the metrics never observe `soft-navigation` (nor, for LCP,
//   `interaction-contentful-paint`) entries, so their handlers' tests for those entry types are always
//   false: they are replaced by `false` and terser drops the handlers (~0.17 KB brotli more);
// - back/forward-cache restores: a page enters the cache only after `pagehide`, when the plugin has sent
//   its event, so the metrics web-vitals restarts after a restore would never be sent (~0.28 KB brotli).
//   With these two off, each metric is measured once per page load, so INP's reset of its interaction
//   count for a new navigation never runs either (left out, ~0.03 KB brotli);
// - a metric's navigation metadata (navigationType, navigationId, navigationURL, …) and its random id, set by
//   lib/initMetric.js: the plugin sends only each metric's value and rating, and with the two above off
//   web-vitals itself reads them only where they cannot matter. INP reports a stand-in 8 ms interaction
//   only for `soft-navigation` and `back-forward-cache` metrics, which no longer exist (that test becomes
//   `false`, and INP no longer passes the navigationType); LCP checks that the metric it finalises is
//   still the current one by id, and it always is (nothing starts a new LCP metric any more: the check is
//   left out); FCP copies an entry's navigationId that nothing reads (left out); the rest is in the
//   disabled handlers. bindReporter sets `rating` before every report, so the stand-in starts without
//   it, and without `delta` (the change since the last report), which the plugin never reads:
//   bindReporter no longer stores it either (~0.24 KB brotli);
// - a metric's performance entries (`metric.entries`), which the plugin never sends: no longer kept
//   (~0.03 KB brotli). The interactions and layout shifts that INP and CLS are computed from stay;
// - hooks for web-vitals/attribution, which this build does not bundle: initUnique hands the attribution
//   code the entry managers that the metric with the same options uses, so that it can set their hooks
//   (`_onBeforeProcessingEntry`, …) and read their soft-navigation maps. Without it every metric gets its
//   own manager and the hooks are never set: left out, with the FCP manager and the LCP manager's hook
//   (~0.06 KB brotli).
// Fails the build when web-vitals' layout changes: a module not found or exporting something else, code
// to rewrite not where it was, a metric's navigation fields read more or less often than accounted for
// above, or web-vitals/attribution bundled; and when the plugin passes other options or reads more of a
// metric than its name, value and rating.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
// The package exports its modules one by one (web-vitals/onCLS.js → dist/modules/onCLS.js); index.js is next to them.
const modules = dirname(require.resolve('web-vitals/onCLS.js'));
const modulesEntry = join(modules, 'index.js');
/** Modules replaced by stand-ins with the same exports. */
const replacements = {
  [join(modules, 'lib', 'softNavs.js')]: 'export const checkSoftNavsEnabled = () => false;\nexport const storeSoftNavEntry = () => {};\n',
  [join(modules, 'lib', 'bfcache.js')]: 'export const getBFCacheRestoreTime = () => -1;\nexport const onBFCacheRestore = () => {};\n',
  [join(modules, 'lib', 'initMetric.js')]: 'export const initMetric = (name, value = -1) => ({ name, value });\n',
  [join(modules, 'lib', 'initUnique.js')]: 'export const initUnique = (identity, Class) => new Class();\n',
  [join(modules, 'lib', 'LCPEntryManager.js')]: 'export class LCPEntryManager {\n  _processEntry() {}\n}\n',
  [join(modules, 'lib', 'FCPEntryManager.js')]: 'export class FCPEntryManager {}\n',
};
const exportsOf = (code) => [...code.matchAll(/^export (?:const|function|class) (\w+)/gm)].map((m) => m[1]).join(', ');

/** Tests for entry types observed only with soft navigations on (`types.push(...)` under checkSoftNavsEnabled). */
const softNavEntryTest = /\bentry\.entryType === '(?:soft-navigation|interaction-contentful-paint)'/g;
/** Reads of the fields the initMetric stand-in leaves out; each one is accounted for in the header. */
const navigationFieldRead = /\bmetric\.(?:id|navigation\w*)\b/g;
/** A metric's performance entries, which the plugin never sends: `metric.entries = …;`, `metric.entries.push(entry);`. */
const entriesKept = /^\s*metric\.entries(?: = [^;\n]+|\.push\(entry\));$/gm;
/** Declarations and calls of the hooks that only web-vitals/attribution sets (`_onX;`, `this._onX?.(entry);`). */
const attributionHook = /^\s*(?:this\.)?_on\w+(?:\?\.\(\w+\))?;$/gm;
/**
 * What each module must contain: [pattern, how many times, replacement], in order, each counted in the
 * code as rewritten by the ones before it. Matches are replaced when a replacement is given; otherwise
 * the count is only checked.
 */
const expectedCode = {
  'onCLS.js': [
    [navigationFieldRead, 3], // in the disabled bfcache handler
    [entriesKept, 1, ''],
    [softNavEntryTest, 1, 'false'],
  ],
  'onFCP.js': [
    [navigationFieldRead, 5], // the copy below, the disabled bfcache handler
    [entriesKept, 1, ''],
    [/\bmetric\.navigationId = entry\.navigationId \|\| metric\.navigationId;/g, 1, ''],
  ],
  'onINP.js': [
    [navigationFieldRead, 4], // navigationType for the 8 ms interaction (no longer passed), the disabled bfcache handler
    [entriesKept, 1, ''],
    [softNavEntryTest, 1, 'false'],
    [/\b_estimateP98LongestInteraction\(metric\.navigationType\)/g, 1, '_estimateP98LongestInteraction()'],
    [/\bopts\.durationThreshold \?\? DEFAULT_DURATION_THRESHOLD\b/g, 1, 'DEFAULT_DURATION_THRESHOLD'],
    [/^\s*interactionManager\._resetInteractions\(\);$/gm, 1, ''], // for a new navigation, left out below
  ],
  'onLCP.js': [
    [navigationFieldRead, 7], // the disabled soft-navigation test and bfcache handler, the id check below
    [entriesKept, 1, ''],
    [softNavEntryTest, 2, 'false'],
    [/!opts\.reportAllChanges && !softNavsEnabled/g, 1, 'false'],
    [/\bconst metricIdToFinalize = metric\.id;/g, 1, ''],
    [/\bmetricIdToFinalize === metric\.id\b/g, 1, 'true'],
  ],
  'onTTFB.js': [
    [navigationFieldRead, 3], // in the disabled bfcache handler
    [entriesKept, 2, ''],
  ],
  'lib/InteractionManager.js': [
    [/\(navigationType === 'soft-navigation' \|\|\s+navigationType === 'back-forward-cache'\)/g, 1, 'false'],
    [attributionHook, 4, ''],
    // The interaction count at the start of the page's only navigation is 0.
    [/^    _resetInteractions\(\) \{[^}]*\}$/gm, 1, ''],
    [/ - this\._prevInteractionCount|^\s*_prevInteractionCount = 0;$/gm, 2, ''],
  ],
  'lib/LayoutShiftManager.js': [[attributionHook, 2, '']],
  'lib/bindReporter.js': [
    [/^\s*metric\.delta = delta;$/gm, 1, ''], // the plugin never reads delta
  ],
};

/**
 * The vitals plugin, whose use of web-vitals the above relies on: it passes every metric
 * `{ reportAllChanges: true }` and nothing else, and reads only a metric's name, value and rating.
 */
const vitalsPlugin = fileURLToPath(new URL('../sdk/plugins/vitals.ts', import.meta.url));
const vitalsPluginOptions = /\bon\(record, \{ reportAllChanges: true \}\)/;
const metricFieldsRead = (code) => [...new Set([...code.matchAll(/\bmetric\.(\w+)/g)].map((m) => m[1]))].sort().join(', ');

/** Property names terser may mangle in a build that bundles web-vitals: its private `_x` members (never `__x`). */
export const webVitalsPrivateProperties = /^_[a-zA-Z]/;

export function webVitalsLean() {
  const replaced = new Set();
  const checked = new Set();
  return {
    name: 'web-vitals-lean',
    resolveId: (id) => (id === 'web-vitals' ? modulesEntry : null),
    load(id) {
      const stand = replacements[id];
      if (!stand) return null;
      const [found, expected] = [exportsOf(readFileSync(id, 'utf8')), exportsOf(stand)];
      if (found !== expected) this.error(`web-vitals ${id} exports ${found}; expected ${expected}`);
      replaced.add(id);
      return stand;
    },
    transform(code, id) {
      if (id === vitalsPlugin) {
        if (!vitalsPluginOptions.test(code) || code.includes('reportSoftNavs')) this.error(`${id} no longer passes web-vitals the options the lean build relies on`);
        const read = metricFieldsRead(code);
        if (read !== 'name, rating, value') this.error(`${id} reads a metric's ${read}; the lean build keeps only name, rating and value`);
        checked.add(id);
        return null;
      }
      const file = Object.keys(expectedCode).find((name) => id === join(modules, name));
      if (!file) return null;
      for (const [pattern, expected, replacement] of expectedCode[file]) {
        const count = code.match(pattern)?.length ?? 0;
        if (count !== expected) this.error(`web-vitals ${id} has ${pattern} ${count} times; expected ${expected}`);
        if (replacement !== undefined) code = code.replace(pattern, replacement);
      }
      checked.add(file);
      return { code, map: null };
    },
    buildEnd(error) {
      if (error || !this.getModuleIds || ![...this.getModuleIds()].includes(modulesEntry)) return;
      const unused = Object.keys(replacements).filter((id) => !replaced.has(id));
      if (unused.length) this.error(`web-vitals no longer imports ${unused.join(', ')}`);
      const missing = [...Object.keys(expectedCode), vitalsPlugin].filter((file) => !checked.has(file));
      if (missing.length) this.error(`the build no longer bundles ${missing.join(', ')}`);
      const attribution = join(modules, 'attribution');
      if ([...this.getModuleIds()].some((id) => id.startsWith(attribution))) this.error('web-vitals/attribution is bundled, but its hooks are left out');
    },
  };
}
