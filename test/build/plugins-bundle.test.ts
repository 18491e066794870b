// Each plugin is its own module: a site that bundles the core and one plugin gets no byte of the
// others. Proven by bundling such an entry with rollup through the package's `exports`, as an app's
// bundler would, and looking at what came out. Needs `npm run build` (npm test runs it).
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { rollup, type Plugin } from 'rollup';
import { describe, expect, it } from 'vitest';
import { fullBuildBudget, fullBuildFile, pluginBudgets, defaultPluginBudget, pluginSizes } from '../../bench/plugin-sizes';
import { sizeOfFile } from '../../bench/sizes';

const root = join(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, { import?: string }>; dependencies: Record<string, string> };
const dependencies = Object.keys(pkg.dependencies);

/** Resolves `tagflow` and `tagflow/…` through package.json `exports`, like a bundler resolving the installed package. */
const packageExports: Plugin = {
  name: 'package-exports',
  resolveId(id) {
    if (id === 'entry') return id;
    if (id !== 'tagflow' && !id.startsWith('tagflow/')) return null;
    const target = pkg.exports[id === 'tagflow' ? '.' : `.${id.slice('tagflow'.length)}`]?.import;
    if (!target) throw new Error(`${id} is not exported by package.json`);
    return join(root, target);
  },
};

/** Bundles an app entry; returns the module files that made it into the output and the code. */
async function bundle(entry: string): Promise<{ modules: string[]; code: string }> {
  const build = await rollup({
    input: 'entry',
    plugins: [packageExports, { name: 'entry', load: (id) => (id === 'entry' ? entry : null) }],
    external: (id) => dependencies.some((dep) => id === dep || id.startsWith(`${dep}/`)),
    onwarn: () => undefined,
  });
  const { output } = await build.generate({ format: 'es' });
  await build.close();
  const [chunk] = output;
  const modules = Object.entries(chunk.modules)
    .filter(([, info]) => info.renderedLength > 0)
    .map(([id]) => relative(root, id));
  return { modules, code: chunk.code };
}

/** Code that only each plugin has: if it shows up, that plugin was bundled. */
const fingerprints: Record<string, RegExp> = {
  page: /pushState|tf_campaign/,
  cart: /tf_cart|Checkout Step Completed/,
  datalayer: /add_to_cart|transaction_id/,
  consent: /Consent Updated|__tcfapi|tf_consent/,
  'consent-banner': /Accept all|aria-labelledby/,
  vitals: /Web Vitals|onINP|web-vitals/,
  feedback: /Survey Responded|scale_max/,
  tags: /\/v1\/container|waitForConsent|triggers\[/,
};

describe('tree-shaking across plugin modules', () => {
  it.each(['page', 'cart', 'feedback', 'vitals'])('core + %s carries none of the other plugins', async (plugin) => {
    const { modules, code } = await bundle(`
      import { createTagflow } from 'tagflow';
      import * as plugin from 'tagflow/plugins/${plugin}';
      const tagflow = createTagflow({ writeKey: 'wk', endpoint: 'https://c.example.com' });
      for (const make of Object.values(plugin)) if (typeof make === 'function') tagflow.use(make());
    `);
    expect(code).toMatch(fingerprints[plugin]!); // the plugin itself is there: the check can fail
    expect(modules).toContain('dist/sdk/core/create.js');
    const pluginModules = modules.filter((m) => m.startsWith('dist/sdk/plugins/'));
    for (const [other, fingerprint] of Object.entries(fingerprints)) {
      if (other !== plugin) expect(code, `${other} code in a core + ${plugin} bundle`).not.toMatch(fingerprint);
    }
    expect(pluginModules.every((m) => m.startsWith(`dist/sdk/plugins/${plugin}`) || m.startsWith('dist/sdk/plugins/ecommerce/types'))).toBe(true);
  });

  it('core alone carries no plugin at all', async () => {
    const { modules, code } = await bundle(`import { createTagflow } from 'tagflow'; createTagflow({ writeKey: 'wk', endpoint: 'https://c.example.com' }).track('x');`);
    expect(modules.filter((m) => m.includes('/plugins/'))).toEqual([]);
    for (const fingerprint of Object.values(fingerprints)) expect(code).not.toMatch(fingerprint);
  });
});

describe('plugin sizes (brotli, deterministic)', () => {
  it('every plugin is within its budget: 1.5 KB, tags 2.5 KB, the banner unbounded', async () => {
    const sizes = await pluginSizes(root);
    expect(sizes.map((s) => s.name).sort()).toEqual(Object.keys(fingerprints).map((p) => `tagflow/plugins/${p}`).sort());
    for (const size of sizes) {
      const budget = size.name in pluginBudgets ? pluginBudgets[size.name] : defaultPluginBudget;
      if (budget !== undefined) expect(size.brotli, size.name).toBeLessThanOrEqual(budget);
    }
  });

  // Issue 4's 9 KB target is not reachable with every feature in the file (see fullBuildBudget in
  // bench/plugin-sizes.ts); this guards the size reached so it does not grow unnoticed.
  it('the full IIFE (core, every plugin, web-vitals) stays within its 10.1 KB guard', () => {
    expect(sizeOfFile(join(root, fullBuildFile)).brotli).toBeLessThanOrEqual(fullBuildBudget);
  });

  it('the full IIFE really carries every plugin and the five web-vitals metrics (the size is not met by leaving them out)', () => {
    const code = readFileSync(join(root, fullBuildFile), 'utf8');
    for (const [plugin, fingerprint] of Object.entries(fingerprints)) {
      if (plugin !== 'consent-banner') expect(code, plugin).toMatch(fingerprint); // the banner is a file of its own
    }
    for (const metric of ['LCP', 'INP', 'CLS', 'FCP', 'TTFB']) expect(code).toContain(`"${metric}"`);
    for (const entryType of ['largest-contentful-paint', 'layout-shift', 'first-contentful-paint']) expect(code).toContain(entryType);
  });
});

describe('no code from strings', () => {
  it('the full build and the banner contain no eval, Function constructor or string timers', () => {
    for (const file of [fullBuildFile, join('dist', 'browser', 'tagflow.banner.min.js')]) {
      const code = readFileSync(join(root, file), 'utf8');
      expect(code, file).not.toMatch(/\beval\(|\bFunction\(|setTimeout\(\s*["'`]/);
    }
  });
});
