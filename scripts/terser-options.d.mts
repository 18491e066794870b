import type { MinifyOptions } from 'terser';

export declare const terserOptions: MinifyOptions & { ecma: 2021; mangle: true };
