// What `npm install tagflow` gives people: only the SDK build, README, LICENSE and package.json,
// and no script that runs at install time.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('the npm package', () => {
  it('contains only the SDK build, README, LICENSE and package.json', () => {
    const result = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    const [pack] = JSON.parse(result.stdout) as [{ files: { path: string }[] }];
    const paths = pack.files.map((f) => f.path);
    expect(paths).toContain('dist/sdk/index.js');
    expect(paths).toContain('dist/sdk/index.d.ts');
    expect(paths).toContain('dist/browser/tagflow.min.js');
    const outside = paths.filter((p) => !/^dist\/(sdk|browser)\//.test(p) && !['README.md', 'LICENSE', 'package.json'].includes(p));
    expect(outside).toEqual([]);
  });

  it('declares no install-time scripts and no side effects', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string>; sideEffects: boolean };
    const installHooks = ['preinstall', 'install', 'postinstall', 'prepare', 'prepack', 'postpack'];
    expect(Object.keys(pkg.scripts).filter((s) => installHooks.includes(s))).toEqual([]);
    expect(pkg.sideEffects).toBe(false);
  });
});
