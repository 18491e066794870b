// Byte sizes of each SDK plugin as a site pays for it: the plugin's npm entry bundled alone and
// minified, with the core and npm dependencies (web-vitals) left out, since those are counted apart.
import terser from '@rollup/plugin-terser';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { rollup } from 'rollup';
import { sizeOf, sizeOfFile, type Size } from './sizes';

export interface PluginSize extends Size {
  /** The package subpath, e.g. `tagflow/plugins/page`. */
  name: string;
}

/** Brotli budgets in bytes (issue 4): every plugin 1.5 KB, tags 2.5 KB, the banner none. */
export const pluginBudgets: Record<string, number | undefined> = { 'tagflow/plugins/tags': 2560, 'tagflow/plugins/consent-banner': undefined };
export const defaultPluginBudget = 1536;
/**
 * Issue 4 asks for the full IIFE at 9 KB brotli. It is out of reach while the core alone is ~3.6 KB (its
 * own budget is 3.5 KB) and web-vitals ~2.9 KB: that leaves ~2.5 KB for eight plugin modules whose own
 * budgets add up to 13 KB. The test guards the size reached instead (see bench/RESULTS.md for both).
 */
export const fullBuildTarget = 9 * 1024;
export const fullBuildBudget = 12 * 1024;
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
  const { output } = await bundle.generate({ format: 'es', plugins: [terser({ ecma: 2020, compress: { passes: 2, pure_getters: true }, mangle: true, format: { comments: false } })] });
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
  return [
    'Each plugin bundled alone from its npm entry and minified, without the core and web-vitals (counted apart).',
    '',
    '| entry | raw | gzip | brotli | brotli budget |',
    '|---|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
}
