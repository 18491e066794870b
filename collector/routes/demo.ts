// Development only: serves the demo shop with the paste-in snippet filled in, and the SDK build.
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CollectorConfig } from '../config';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const browserBuildDir = join(root, 'dist', 'browser');
const shopDir = join(root, 'examples', 'shop');

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

export async function demoRoutes(app: FastifyInstance, config: CollectorConfig): Promise<void> {
  const source = config.sources[0];
  if (!source) return;
  await app.register(fastifyStatic, { root: browserBuildDir, prefix: '/sdk/', decorateReply: false });
  const page = (file: string) => async (request: { protocol: string; host: string }, reply: { type(t: string): { send(b: string): unknown } }) => {
    const origin = `${request.protocol}://${request.host}`;
    // The full build, so the shop shows every plugin: a consent banner (cookieless until answered) and tags.
    const snippet = renderSnippet({ writeKey: source.writeKey, endpoint: origin, src: `${origin}/sdk/tagflow.full.min.js`, consent: { mode: 'cookieless', banner: true }, tags: { globals: ['console.info'] } });
    const html = readFileSync(join(shopDir, file), 'utf8').replace('<!-- tagflow-snippet -->', () => `<script>${snippet}</script>`);
    return reply.type('text/html; charset=utf-8').send(html);
  };
  app.get('/', page('index.html'));
}
