// Byte sizes of each SDK plugin as a site pays for it: the plugin's npm entry bundled alone and
// minified, with the core and npm dependencies (web-vitals) left out, since those are counted apart.
import terser from '@rollup/plugin-terser';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { rollup, type Plugin, type RollupOptions } from 'rollup';
import { loadConfigFile } from 'rollup/loadConfigFile';
import { terserOptions } from '../scripts/terser-options.mjs';
import { sizeOf, sizeOfFile, type Size } from './sizes';

export interface PluginSize extends Size {
  /** The package subpath, e.g. `tagflow/plugins/page`. */
  name: string;
}

/** Brotli budgets in bytes (issue 4): every plugin 1.5 KB, tags 2.5 KB, the banner none. */
export const pluginBudgets: Record<string, number | undefined> = { 'tagflow/plugins/tags': 2560, 'tagflow/plugins/consent-banner': undefined };
export const defaultPluginBudget = 1536;
/**
 * Issue 4 asks for the full IIFE at 9 KB brotli. It is not reached with every feature in it: in that
 * file the core with the build's glue takes ~3.8 KB, web-vitals 6 (already trimmed by
 * scripts/web-vitals-lean.mjs) ~1.6 KB and the tag manager ~1.5 KB, while consent, the GA4 bridge, cart,
 * page, feedback and the vitals plugin add ~2.7 KB more (`npm run bench -- plugin-sizes` measures each
 * part). The test guards the size reached (10,283 B after session 10's fixes of bugs an audit found,
 * +174 B) with a little room, so it does not grow unnoticed; see bench/RESULTS.md for both numbers.
 */
export const fullBuildTarget = 9 * 1024;
export const fullBuildBudget = Math.round(10.1 * 1024);
export const fullBuildFile = join('dist', 'browser', 'tagflow.full.min.js');

/** The package's plugin subpaths and their built files, from package.json `exports`. */
export function pluginEntries(root: string): { name: string; file: string }[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, { import?: string }> };
  return Object.entries(pkg.exports)
    .filter(([path, target]) => path.startsWith('./plugins/') && target.import)
    .map(([path, target]) => ({ name: `tagflow${path.slice(1)}`, file: join(root, target.import!) }));
}

/** One entry bundled and minified the way the browser builds are (same terser settings). */
export async function minifiedBundle(input: string, isExternal: (id: string) => boolean): Promise<string> {
  const bundle = await rollup({
    input,
    external: (id, importer) => isExternal(importer && id.startsWith('.') ? resolve(dirname(importer), id) : id),
    onwarn: () => undefined,
  });
  const { output } = await bundle.generate({ format: 'es', plugins: [terser(terserOptions)] });
  await bundle.close();
  return output[0].code;
}

/** Size of every plugin (needs `npm run build` first). */
export async function pluginSizes(root: string): Promise<PluginSize[]> {
  const core = join(root, 'dist', 'sdk', 'core');
  const sizes: PluginSize[] = [];
  for (const { name, file } of pluginEntries(root)) {
    const code = await minifiedBundle(file, (id) => !id.startsWith('/') || id.startsWith(core));
    sizes.push({ name, ...sizeOf(code) });
  }
  return sizes;
}

/**
 * What each part adds to the full IIFE: its brotli size minus that of the same build (rollup.config.mjs,
 * same plugins and terser settings) with the part replaced by an empty stand-in. Helpers shared by
 * several plugins (dataLayer watching, storage) stay while any user is left, so they count in none.
 */
const fullBuildParts: { part: string; source: string; stub: string }[] = [
  { part: 'web-vitals (LCP, INP, CLS, FCP, TTFB)', source: 'web-vitals', stub: 'export const onCLS = () => {}, onFCP = onCLS, onINP = onCLS, onLCP = onCLS, onTTFB = onCLS;' },
  { part: 'vitals plugin with web-vitals', source: '../plugins/vitals', stub: "export const vitalsPlugin = () => ({ name: 'vitals' });" },
  { part: 'tags (container reading, triggers, variables, tags)', source: '../plugins/tags/tags', stub: "export const tagsPlugin = () => ({ name: 'tags' });" },
  { part: 'consent (with TCF and Consent Mode mapping)', source: '../plugins/consent/consent', stub: "export const consentPlugin = () => ({ name: 'consent', decided: () => true, granted: () => true, onChange() {} });" },
  { part: 'datalayer (GA4 bridge)', source: '../plugins/datalayer-bridge', stub: "export const dataLayerBridge = () => ({ name: 'datalayer-bridge' });" },
  { part: 'cart', source: '../plugins/cart', stub: "export const cartPlugin = () => ({ name: 'cart' });" },
  { part: 'page', source: '../plugins/page', stub: "export const pagePlugin = () => ({ name: 'page' });" },
  { part: 'feedback', source: '../plugins/feedback', stub: "export const feedbackPlugin = () => ({ name: 'feedback' });" },
];

/** Brotli size of the full IIFE built as rollup.config.mjs does, with the given imports replaced by stand-ins. */
async function fullBuildBrotli(config: RollupOptions, stubs: Map<string, string>): Promise<number> {
  const stand: Plugin = {
    name: 'stand-ins',
    resolveId: (source) => (stubs.has(source) ? `\0stand-in:${source}` : null),
    load: (id) => (id.startsWith('\0stand-in:') ? stubs.get(id.slice('\0stand-in:'.length))! : null),
  };
  const bundle = await rollup({ ...config, plugins: [stand, ...((config.plugins ?? []) as Plugin[])], onwarn: () => undefined });
  const output = Array.isArray(config.output) ? config.output[0]! : config.output!;
  const { output: chunks } = await bundle.generate(output);
  await bundle.close();
  return sizeOf(chunks[0].code).brotli;
}

/** The full IIFE's brotli size and what each part adds to it (see {@link fullBuildParts}). */
export async function fullBuildShares(root: string): Promise<{ total: number; parts: { part: string; brotli: number }[]; rest: number }> {
  const { options } = await loadConfigFile(join(root, 'rollup.config.mjs'), {});
  const config = options.find((o) => o.output.some((out) => out.file?.endsWith('tagflow.full.min.js')));
  if (!config) throw new Error('rollup.config.mjs has no tagflow.full.min.js build');
  const total = await fullBuildBrotli(config, new Map());
  const parts: { part: string; brotli: number }[] = [];
  for (const { part, source, stub } of fullBuildParts) parts.push({ part, brotli: total - (await fullBuildBrotli(config, new Map([[source, stub]]))) });
  const rest = await fullBuildBrotli(config, new Map(fullBuildParts.filter((p) => p.source !== 'web-vitals').map((p) => [p.source, p.stub])));
  return { total, parts, rest };
}

/** Markdown table of the plugins and the full IIFE, with their budgets. */
export async function pluginSizesSection(root: string): Promise<string> {
  const kb = (n: number) => `${(n / 1024).toFixed(2)} KB`;
  const rows = (await pluginSizes(root)).map((s) => {
    const budget = s.name in pluginBudgets ? pluginBudgets[s.name] : defaultPluginBudget;
    return `| ${s.name} | ${kb(s.raw)} | ${kb(s.gzip)} | ${kb(s.brotli)} | ${budget ? `≤ ${kb(budget)}` : '—'} |`;
  });
  const full = sizeOfFile(join(root, fullBuildFile));
  rows.push(`| ${fullBuildFile} (core + all plugins + web-vitals) | ${kb(full.raw)} | ${kb(full.gzip)} | ${kb(full.brotli)} | ≤ ${kb(fullBuildBudget)} (issue target ${kb(fullBuildTarget)}: not met) |`);
  const banner = sizeOfFile(join(root, 'dist', 'browser', 'tagflow.banner.min.js'));
  rows.push(`| dist/browser/tagflow.banner.min.js (loaded by the full build for undecided visitors only) | ${kb(banner.raw)} | ${kb(banner.gzip)} | ${kb(banner.brotli)} | — |`);
  const shares = await fullBuildShares(root);
  return [
    'Each plugin bundled alone from its npm entry and minified, without the core and web-vitals (counted apart).',
    '',
    '| entry | raw | gzip | brotli | brotli budget |',
    '|---|---:|---:|---:|---:|',
    ...rows,
    '',
    `What each part adds to ${fullBuildFile} (${shares.total} bytes brotli): the build's size minus that of the same build with the part replaced by an empty stand-in.`,
    '',
    '| part | brotli bytes it adds |',
    '|---|---:|',
    ...shares.parts.map((p) => `| ${p.part} | ${p.brotli} |`),
    `| the rest: core, the helpers plugins share, the build's settings glue (every plugin replaced) | ${shares.rest} |`,
  ].join('\n');
}
