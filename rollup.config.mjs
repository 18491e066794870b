// Three builds of the SDK:
//  1. dist/sdk/      npm package: ESM, one file per module, .d.ts, dependencies external (tree-shakable)
//  2. dist/browser/tagflow.min.js   the minified IIFE the snippet loads, dependencies bundled
//  3. dist/browser/snippet.min.js   the paste-in stub, minified
import nodeResolve from '@rollup/plugin-node-resolve';
import terser from '@rollup/plugin-terser';
import typescript from '@rollup/plugin-typescript';
import pkg from './package.json' with { type: 'json' };

const external = Object.keys(pkg.dependencies ?? {});
const browserTs = () => typescript({ tsconfig: './tsconfig.browser.json' });
const minify = () => terser({ ecma: 2020, compress: { passes: 2, pure_getters: true }, mangle: true, format: { comments: false } });

export default [
  {
    input: 'sdk/index.ts',
    external: (id) => external.some((dep) => id === dep || id.startsWith(`${dep}/`)),
    output: { dir: 'dist/sdk', format: 'es', preserveModules: true, preserveModulesRoot: 'sdk', sourcemap: false },
    plugins: [typescript({ tsconfig: './tsconfig.sdk.json' })],
  },
  {
    input: 'sdk/snippet/iife.ts',
    output: { file: 'dist/browser/tagflow.min.js', format: 'iife', sourcemap: false, strict: false },
    plugins: [nodeResolve({ browser: true }), browserTs(), minify()],
  },
  {
    input: 'sdk/snippet/stub.ts',
    output: { file: 'dist/browser/snippet.min.js', format: 'iife', sourcemap: false },
    plugins: [browserTs(), minify()],
  },
];
