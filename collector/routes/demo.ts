// Development only (serveDemo): serves the demo shop at / with the paste-in snippet filled in. The SDK
// build it loads is served under /sdk/ by sdk.ts, demo or not.
import type { FastifyInstance } from 'fastify';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CollectorConfig } from '../config';
import { browserBuildDir } from './sdk';

const shopDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'shop');

/** Settings a site owner puts in the snippet. */
export interface SnippetSettings {
  writeKey: string;
  endpoint: string;
  /** Where the full SDK script is served from. */
  src: string;
  /** Plugin settings the full build reads (consent, tags, …; see sdk/snippet/iife-full.ts). */
  [setting: string]: unknown;
}

/** The paste-in snippet for these settings: the built stub with its config filled in. */
export function renderSnippet(settings: SnippetSettings): string {
  const stubPath = join(browserBuildDir, 'snippet.min.js');
  if (!existsSync(stubPath)) throw new Error(`${stubPath} is missing: run npm run build`);
  // `<` is escaped so a value can never close the surrounding <script> element.
  const json = JSON.stringify(settings).replace(/</g, '\\u003c');
  // A replacer function, not a string: `$'`-style patterns in a value (e.g. from the Host header) stay literal.
  return readFileSync(stubPath, 'utf8').trim().replace('__TAGFLOW_CONFIG__', () => json);
}

export function demoRoutes(app: FastifyInstance, config: CollectorConfig): void {
  const source = config.sources[0];
  if (!source) return;
  const page = (file: string) => async (request: { protocol: string; host: string }, reply: { type(t: string): { send(b: string): unknown } }) => {
    // publicUrl when set: behind a proxy under a path prefix, the host the request came to is not where browsers reach us.
    const origin = config.publicUrl ?? `${request.protocol}://${request.host}`;
    // The full build, so the shop shows every plugin: a consent banner (cookieless until answered) and tags.
    const snippet = renderSnippet({ writeKey: source.writeKey, endpoint: origin, src: `${origin}/sdk/tagflow.full.min.js`, consent: { mode: 'cookieless', banner: true }, tags: { globals: ['console.info'] } });
    const html = readFileSync(join(shopDir, file), 'utf8').replace('<!-- tagflow-snippet -->', () => `<script>${snippet}</script>`);
    return reply.type('text/html; charset=utf-8').send(html);
  };
  app.get('/', page('index.html'));
}
