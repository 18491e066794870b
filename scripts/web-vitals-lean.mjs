// Rollup plugin for the browser IIFE builds: bundles web-vitals from its unminified ES modules (not its
// pre-minified file) so our terser can mangle its private `_` properties together with our code, and
// replaces its soft-navigation module with a disabled one. Soft navigations are opt-in
// (`reportSoftNavs: true`), which the vitals plugin never passes: one Web Vitals event per page load
// is the design. Behaviour is unchanged; only code that could never run is left out (~0.25 KB brotli).
// Fails the build when web-vitals' layout changes (module not found, or it exports something else).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
// The package exports its modules one by one (web-vitals/onCLS.js → dist/modules/onCLS.js); index.js is next to them.
const modules = dirname(require.resolve('web-vitals/onCLS.js'));
const modulesEntry = join(modules, 'index.js');
const softNavs = join(modules, 'lib', 'softNavs.js');
const expectedExports = ['checkSoftNavsEnabled', 'storeSoftNavEntry'];

/** Property names terser may mangle in a build that bundles web-vitals: its private `_x` members (never `__x`). */
export const webVitalsPrivateProperties = /^_[a-zA-Z]/;

export function webVitalsLean() {
  let replaced = false;
  return {
    name: 'web-vitals-lean',
    resolveId: (id) => (id === 'web-vitals' ? modulesEntry : null),
    load(id) {
      if (id !== softNavs) return null;
      const exported = [...readFileSync(id, 'utf8').matchAll(/^export const (\w+)/gm)].map((m) => m[1]);
      if (exported.join() !== expectedExports.join()) this.error(`web-vitals ${id} exports ${exported.join(', ')}; expected ${expectedExports.join(', ')}`);
      replaced = true;
      return 'export const checkSoftNavsEnabled = () => false;\nexport const storeSoftNavEntry = () => {};\n';
    },
    buildEnd(error) {
      if (!error && this.getModuleIds && [...this.getModuleIds()].includes(modulesEntry) && !replaced) this.error(`web-vitals no longer imports ${softNavs}`);
    },
  };
}
