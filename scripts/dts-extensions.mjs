// Rollup plugin for the npm build: TypeScript writes the .d.ts files with the import paths of the sources
// (`./core/create`), which TypeScript's node16/nodenext resolution refuses in an ES module package ("Relative
// import paths need explicit file extensions"). Rollup already writes `.js` paths into the JavaScript; this
// gives the declarations the same: `./core/create.js`, or `./x/index.js` for a folder.
import { dirname, join, relative } from 'node:path/posix';

const relativeSpecifier = /(\bfrom\s+|\bimport\s*\(\s*)(['"])(\.{1,2}\/[^'"]+)\2/g;

/** Adds `.js` (or `/index.js`) to relative import paths in the build's .d.ts files. */
export function dtsExtensions() {
  return {
    name: 'dts-extensions',
    generateBundle(_options, bundle) {
      const declarations = new Set(Object.keys(bundle).filter((file) => file.endsWith('.d.ts')));
      for (const file of declarations) {
        const asset = bundle[file];
        const source = typeof asset.source === 'string' ? asset.source : new TextDecoder().decode(asset.source);
        asset.source = source.replace(relativeSpecifier, (whole, before, quote, path) => {
          const target = join(dirname(file), path);
          const found = [`${target}.d.ts`, `${target}/index.d.ts`].find((candidate) => declarations.has(candidate));
          if (!found) return whole; // already has an extension, or not a module of this build
          const withExtension = relative(dirname(file), found).replace(/\.d\.ts$/, '.js');
          return `${before}${quote}${withExtension.startsWith('.') ? withExtension : `./${withExtension}`}${quote}`;
        });
      }
    },
  };
}
