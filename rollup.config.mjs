// Three builds of the SDK:
//  1. dist/sdk/      npm package: ESM, one file per module, .d.ts, dependencies external (tree-shakable)
//  2. dist/browser/tagflow.min.js   the minified IIFE the snippet loads, dependencies bundled
//  3. dist/browser/snippet.min.js   the paste-in stub, minified
//  4. dist/browser/tagflow.full.min.js   the IIFE with every plugin and web-vitals, and the consent
//     banner it loads on demand (tagflow.banner.min.js)
import nodeResolve from '@rollup/plugin-node-resolve';
import terser from '@rollup/plugin-terser';
import typescript from '@rollup/plugin-typescript';
import pkg from './package.json' with { type: 'json' };
import { dtsExtensions } from './scripts/dts-extensions.mjs';
import { terserOptions } from './scripts/terser-options.mjs';
import { webVitalsLean, webVitalsPrivateProperties } from './scripts/web-vitals-lean.mjs';

const external = Object.keys(pkg.dependencies ?? {});
// Every package subpath (tagflow/plugins/page, …) is an entry of the npm build: ./dist/sdk/X.js ← sdk/X.ts.
const npmEntries = Object.values(pkg.exports).flatMap((e) => (e.import ? [e.import.replace('./dist/sdk/', 'sdk/').replace(/\.js$/, '.ts')] : []));
const browserTs = () => typescript({ tsconfig: './tsconfig.browser.json' });
const minify = (mangle = terserOptions.mangle) => terser({ ...terserOptions, mangle });

export default [
  {
    input: npmEntries,
    external: (id) => external.some((dep) => id === dep || id.startsWith(`${dep}/`)),
    output: { dir: 'dist/sdk', format: 'es', preserveModules: true, preserveModulesRoot: 'sdk', sourcemap: false },
    plugins: [typescript({ tsconfig: './tsconfig.sdk.json' }), dtsExtensions()],
  },
  {
    input: 'sdk/snippet/iife.ts',
    output: { file: 'dist/browser/tagflow.min.js', format: 'iife', sourcemap: false, strict: false },
    plugins: [nodeResolve({ browser: true }), browserTs(), minify()],
  },
  {
    input: 'sdk/snippet/iife-full.ts',
    output: { file: 'dist/browser/tagflow.full.min.js', format: 'iife', sourcemap: false },
    plugins: [webVitalsLean(), nodeResolve({ browser: true }), browserTs(), minify({ properties: { regex: webVitalsPrivateProperties } })],
  },
  {
    input: 'sdk/snippet/iife-banner.ts',
    output: { file: 'dist/browser/tagflow.banner.min.js', format: 'iife', sourcemap: false },
    plugins: [browserTs(), minify()],
  },
  {
    input: 'sdk/snippet/stub.ts',
    output: { file: 'dist/browser/snippet.min.js', format: 'iife', sourcemap: false },
    plugins: [browserTs(), minify()],
  },
];
