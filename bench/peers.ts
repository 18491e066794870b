// Sizes of Tagflow and its peers for the same use (a page view, a track call, an identify), each
// installed from npm into bench/.tmp (git-ignored) and bundled the same way: rollup + node-resolve
// (+ commonjs) + terser, dynamic imports inlined so lazily loaded code counts too. A peer that cannot
// be installed or bundled gets a row saying so instead of failing the bench.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import nodeResolve from '@rollup/plugin-node-resolve';
import terser from '@rollup/plugin-terser';
import { rollup, type Plugin } from 'rollup';
import { sizeOf, type Size } from './sizes';

interface Peer {
  name: string;
  /** The npm package to install, or undefined for Tagflow itself. */
  pkg?: string;
  /** Entry module doing page + track + identify with the library's own API. */
  entry: string;
  note?: string;
}

function peers(root: string): Peer[] {
  const tagflow = JSON.stringify(join(root, 'dist', 'sdk', 'index.js'));
  return [
    {
      name: 'Tagflow (npm build)',
      entry: `import { createTagflow } from ${tagflow};
const t = createTagflow({ writeKey: 'wk', endpoint: 'https://collect.example.com' });
t.page(); t.track('Product Added', { sku: 'a' }); t.identify('u1', { plan: 'pro' });`,
    },
    {
      name: 'Segment analytics-next',
      pkg: '@segment/analytics-next',
      entry: `import { AnalyticsBrowser } from '@segment/analytics-next';
const a = AnalyticsBrowser.load({ writeKey: 'wk' });
a.page(); a.track('Product Added', { sku: 'a' }); a.identify('u1', { plan: 'pro' });`,
    },
    {
      name: 'RudderStack JS SDK v3',
      pkg: '@rudderstack/analytics-js',
      entry: `import { RudderAnalytics } from '@rudderstack/analytics-js';
const r = new RudderAnalytics(); r.load('wk', 'https://dataplane.example.com');
r.page(); r.track('Product Added', { sku: 'a' }); r.identify('u1', { plan: 'pro' });`,
      note: 'its plugins load from a CDN at run time and are not counted',
    },
    {
      name: 'Snowplow browser tracker',
      pkg: '@snowplow/browser-tracker',
      entry: `import { newTracker, trackPageView, trackStructEvent, setUserId } from '@snowplow/browser-tracker';
newTracker('sp', 'collector.example.com');
trackPageView(); trackStructEvent({ category: 'shop', action: 'Product Added' }); setUserId('u1');`,
    },
    {
      name: 'PostHog posthog-js',
      pkg: 'posthog-js',
      entry: `import posthog from 'posthog-js';
posthog.init('key', { api_host: 'https://ph.example.com' });
posthog.capture('$pageview'); posthog.capture('Product Added', { sku: 'a' }); posthog.identify('u1', { plan: 'pro' });`,
    },
    {
      name: 'Plausible plausible-tracker',
      pkg: 'plausible-tracker',
      entry: `import Plausible from 'plausible-tracker';
const p = Plausible({ domain: 'example.com' });
p.trackPageview(); p.trackEvent('Product Added', { props: { sku: 'a' } });`,
      note: 'has no identify',
    },
  ];
}

function install(dir: string, packages: string[]): { ok: boolean; output: string } {
  const result = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock', '--loglevel=error', ...packages], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 300_000,
  });
  return { ok: result.status === 0, output: `${result.stderr ?? ''}${result.error?.message ?? ''}`.trim() };
}

/** Installs what is missing; returns why a package could not be installed, by package. */
function installPeers(dir: string, packages: string[]): Map<string, string> {
  mkdirSync(dir, { recursive: true });
  if (!existsSync(join(dir, 'package.json'))) writeFileSync(join(dir, 'package.json'), '{"name":"tagflow-bench-peers","private":true}\n');
  const missing = packages.filter((p) => !existsSync(join(dir, 'node_modules', p, 'package.json')));
  const failures = new Map<string, string>();
  if (missing.length === 0 || install(dir, missing).ok) return failures;
  for (const pkg of missing) {
    const one = install(dir, [pkg]); // one by one, to name the one that fails
    if (!one.ok) failures.set(pkg, one.output.split('\n')[0] ?? 'npm install failed');
  }
  return failures;
}

/** process.env.NODE_ENV as a production bundler would replace it. */
const nodeEnv: Plugin = {
  name: 'node-env',
  transform: (code) => (code.includes('process.env.NODE_ENV') ? { code: code.replaceAll('process.env.NODE_ENV', '"production"'), map: null } : null),
};

async function bundle(dir: string, entry: string, commonjs: Plugin | undefined): Promise<string> {
  const file = join(dir, `entry-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, entry);
  const build = await rollup({
    input: file,
    onwarn: () => undefined,
    plugins: [nodeEnv, nodeResolve({ browser: true, rootDir: dir }), ...(commonjs ? [commonjs] : [])],
  });
  const { output } = await build.generate({
    format: 'iife',
    inlineDynamicImports: true,
    plugins: [terser({ ecma: 2020, compress: { passes: 2, pure_getters: true }, mangle: true, format: { comments: false } })],
  });
  await build.close();
  return output.map((chunk) => (chunk.type === 'chunk' ? chunk.code : '')).join('');
}

async function loadCommonjs(dir: string): Promise<Plugin | undefined> {
  const path = join(dir, 'node_modules', '@rollup', 'plugin-commonjs', 'dist', 'es', 'index.js');
  if (!existsSync(path)) return undefined;
  const module = (await import(pathToFileURL(path).href)) as { default: (options?: object) => Plugin };
  return module.default();
}

const kb = (n: number) => `${(n / 1024).toFixed(2)} KB`;

/** Markdown table of the peers' bundle sizes with ratios against Tagflow (brotli). */
export async function peersSection(root: string): Promise<string> {
  const dir = join(root, 'bench', '.tmp', 'peers');
  const list = peers(root);
  const failures = installPeers(dir, [...list.flatMap((p) => (p.pkg ? [p.pkg] : [])), '@rollup/plugin-commonjs']);
  const commonjs = await loadCommonjs(dir);
  const rows: { peer: Peer; version: string; size?: Size; problem?: string }[] = [];
  for (const peer of list) {
    const version = peer.pkg ? readVersion(dir, peer.pkg) : readVersion(root, '.');
    if (peer.pkg && failures.has(peer.pkg)) {
      rows.push({ peer, version, problem: `could not be installed: ${failures.get(peer.pkg)}` });
      continue;
    }
    try {
      rows.push({ peer, version, size: sizeOf(await bundle(dir, peer.entry, commonjs)) });
    } catch (error) {
      rows.push({ peer, version, problem: `could not be bundled: ${(error as Error).message.split('\n')[0]}` });
    }
  }
  const base = rows[0]?.size;
  const ratio = (size: Size) => (base ? `${(size.brotli / base.brotli).toFixed(1)}×` : '–');
  const smaller = rows.filter((r) => base && r.size && r.peer.pkg && r.size.brotli < base.brotli).map((r) => r.peer.name);
  return [
    'Each bundle does a page view, a track call and an identify (see `bench/peers.ts`), minified with terser; ratio = brotli size ÷ Tagflow’s.',
    '',
    '| SDK | version | raw | gzip | brotli | vs Tagflow |',
    '|---|---|---:|---:|---:|---:|',
    ...rows.map(({ peer, version, size, problem }) =>
      size
        ? `| ${peer.name}${peer.note ? ` (${peer.note})` : ''} | ${version} | ${kb(size.raw)} | ${kb(size.gzip)} | ${kb(size.brotli)} | ${ratio(size)} |`
        : `| ${peer.name} | ${version} | ${problem} | | | |`,
    ),
    ...(smaller.length
      ? ['', `Smaller than Tagflow: ${smaller.join(', ')} — page views and custom events only: no identify, no persistent queue, no retries, no offline or page-hide delivery.`]
      : []),
  ].join('\n');
}

function readVersion(dir: string, pkg: string): string {
  const path = pkg === '.' ? join(dir, 'package.json') : join(dir, 'node_modules', pkg, 'package.json');
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { version?: string }).version ?? '?';
  } catch {
    return '?';
  }
}
