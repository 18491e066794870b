// The package's type declarations work for an app compiled by TypeScript with each module resolution an
// ES module app may use: `bundler` (Vite, webpack) and `node16`/`nodenext` (which refuse relative import
// paths without an extension in the .d.ts files). Needs `npm run build` (npm test runs it).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, { types?: string }> };
const app = mkdtempSync(join(tmpdir(), 'tagflow-types-'));
afterAll(() => rmSync(app, { recursive: true, force: true }));

/** An app that imports every subpath of the package, installed as node_modules/tagflow. */
function writeApp(): void {
  mkdirSync(join(app, 'node_modules'));
  symlinkSync(root, join(app, 'node_modules', 'tagflow'), 'dir');
  writeFileSync(join(app, 'package.json'), '{"type":"module"}');
  const subpaths = Object.entries(pkg.exports).flatMap(([key, entry]) => (entry.types ? [key] : []));
  const imports = subpaths.map((key, i) => `import * as m${i} from '${key === '.' ? 'tagflow' : `tagflow${key.slice(1)}`}';\nexport const e${i} = Object.keys(m${i});`);
  const use = "import { createTagflow } from 'tagflow';\nimport { pagePlugin } from 'tagflow/plugins/page';\n" +
    "createTagflow({ writeKey: 'k', endpoint: 'https://collect.example.com' }).use(pagePlugin());";
  writeFileSync(join(app, 'app.ts'), `${imports.join('\n')}\n${use}\n`);
}
writeApp();

function compile(resolution: 'bundler' | 'node16'): string {
  const compilerOptions = { module: resolution === 'bundler' ? 'esnext' : 'node16', moduleResolution: resolution, strict: true, noEmit: true, lib: ['es2020', 'dom'], types: [] };
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['app.ts'] }));
  const result = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], { encoding: 'utf8' });
  return `${result.status} ${result.stdout}${result.stderr}`.trim();
}

describe('the package types', () => {
  it.each(['bundler', 'node16'] as const)('compile in an app with moduleResolution %s', (resolution) => {
    expect(compile(resolution)).toBe('0');
  });
});
