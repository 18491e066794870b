// Rollup plugin for the browser IIFE builds: bundles web-vitals from its unminified ES modules (not its
// pre-minified file) so our terser can mangle its private `_` properties together with our code, and
// replaces two of its modules with disabled ones, leaving out code that can never change what the vitals
// plugin sends (one Web Vitals event per page load, at the first hide):
// - soft navigations are opt-in (`reportSoftNavs: true`), which the plugin never passes (~0.25 KB brotli).
//   With them off, the metrics never observe `soft-navigation` (nor, for LCP,
//   `interaction-contentful-paint`) entries, so their handlers' tests for those entry types are always
//   false: they are replaced by `false` and terser drops the handlers (~0.17 KB brotli more);
// - back/forward-cache restores: a page enters the cache only after `pagehide`, when the plugin has sent
//   its event, so the metrics web-vitals restarts after a restore would never be sent (~0.28 KB brotli).
// Fails the build when web-vitals' layout changes (module not found, it exports something else, or
// the entry-type tests are not where they were).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
// The package exports its modules one by one (web-vitals/onCLS.js → dist/modules/onCLS.js); index.js is next to them.
const modules = dirname(require.resolve('web-vitals/onCLS.js'));
const modulesEntry = join(modules, 'index.js');
/** Modules replaced by disabled stand-ins with the same exports. */
const replacements = {
  [join(modules, 'lib', 'softNavs.js')]: 'export const checkSoftNavsEnabled = () => false;\nexport const storeSoftNavEntry = () => {};\n',
  [join(modules, 'lib', 'bfcache.js')]: 'export const getBFCacheRestoreTime = () => -1;\nexport const onBFCacheRestore = () => {};\n',
};
const exportsOf = (code) => [...code.matchAll(/^export const (\w+)/gm)].map((m) => m[1]).join(', ');
/** Tests for entry types observed only with soft navigations on (`types.push(...)` under checkSoftNavsEnabled). */
const softNavEntryTest = /\bentry\.entryType === '(?:soft-navigation|interaction-contentful-paint)'/g;
/** How many such tests each metric module has. */
const expectedSoftNavTests = { 'onCLS.js': 1, 'onINP.js': 1, 'onLCP.js': 2 };

/** Property names terser may mangle in a build that bundles web-vitals: its private `_x` members (never `__x`). */
export const webVitalsPrivateProperties = /^_[a-zA-Z]/;

export function webVitalsLean() {
  const replaced = new Set();
  const softNavTests = {};
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
      const file = Object.keys(expectedSoftNavTests).find((name) => id === join(modules, name));
      if (!file) return null;
      const count = code.match(softNavEntryTest)?.length ?? 0;
      if (count !== expectedSoftNavTests[file]) this.error(`web-vitals ${id} tests for soft-navigation entry types ${count} times; expected ${expectedSoftNavTests[file]}`);
      softNavTests[file] = count;
      return { code: code.replace(softNavEntryTest, 'false'), map: null };
    },
    buildEnd(error) {
      if (error || !this.getModuleIds || ![...this.getModuleIds()].includes(modulesEntry)) return;
      const unused = Object.keys(replacements).filter((id) => !replaced.has(id));
      if (unused.length) this.error(`web-vitals no longer imports ${unused.join(', ')}`);
      const missing = Object.keys(expectedSoftNavTests).filter((file) => !(file in softNavTests));
      if (missing.length) this.error(`web-vitals no longer bundles ${missing.join(', ')}`);
    },
  };
}
