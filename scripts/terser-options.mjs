// The terser settings of every browser build (rollup.config.mjs) and of the bench's per-plugin sizes,
// so both minify alike. ecma 2021 is the builds' syntax floor (`??=`, `||=`): Chrome and Edge 85,
// Firefox 79, Safari 14; the SDK's TypeScript is compiled to the same target (tsconfig.browser.json).
export const terserOptions = { ecma: 2021, compress: { passes: 2, pure_getters: true, hoist_funs: true }, mangle: true, format: { comments: false } };
