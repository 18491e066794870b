// The browser SDK's public builds under /sdk/, which the paste-in snippet loads (`src`). They are public
// files, so they are served whether or not the demo shop is. Only the named builds are served: no part of
// the URL becomes a path, so nothing else in dist/browser (or beyond it) can be reached.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';

export const browserBuildDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'browser');

/** The snippet's scripts and the banner the full build loads next to itself (snippet.min.js is a template, not served). */
export const publicSdkFiles: readonly string[] = ['tagflow.min.js', 'tagflow.full.min.js', 'tagflow.banner.min.js'];

/** The names carry no version, so browsers keep a copy for an hour, then revalidate (a 304 while unchanged). */
const cacheControl = 'public, max-age=3600';

type Encoding = 'br' | 'gzip' | 'identity';
interface Representation {
  body: Buffer;
  etag: string;
}
type Build = Record<Encoding, Representation>;

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

/** Reads and compresses a build once (on zlib's threads, not the request thread), with an ETag per encoding. */
async function loadBuild(path: string): Promise<Build> {
  const raw = await readFile(path);
  const hash = createHash('sha256').update(raw).digest('base64url').slice(0, 22);
  const [br, gz] = await Promise.all([
    brotli(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY, [constants.BROTLI_PARAM_SIZE_HINT]: raw.length } }),
    gzipAsync(raw, { level: constants.Z_BEST_COMPRESSION }),
  ]);
  return { identity: { body: raw, etag: `"${hash}"` }, br: { body: br, etag: `"${hash}-br"` }, gzip: { body: gz, etag: `"${hash}-gz"` } };
}

/** The current build of `file`, or undefined when it is not built; a rebuild (new mtime or size) is picked up. */
function buildCache(dir: string): (file: string) => Promise<Build | undefined> {
  const cache = new Map<string, { version: string; build: Promise<Build> }>();
  return async (file) => {
    const path = join(dir, file);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) return undefined;
    const version = `${info.mtimeMs}:${info.size}`;
    const cached = cache.get(file);
    if (cached?.version === version) return cached.build;
    const build = loadBuild(path);
    cache.set(file, { version, build });
    // A failed read (the file removed mid-build) is not remembered: the next request tries again.
    build.catch(() => cache.get(file)?.build === build && cache.delete(file));
    return build.catch(() => undefined);
  };
}

/** br, else gzip, else none, by the request's Accept-Encoding (an encoding with q=0 is refused). */
export function chooseEncoding(header: string | undefined): Encoding {
  const weights = new Map<string, number>();
  for (const part of (header ?? '').split(',')) {
    const [name = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    if (name) weights.set(name, q === undefined ? 1 : Number(q.slice(2)));
  }
  const accepts = (name: string): boolean => (weights.get(name) ?? weights.get('*') ?? 0) > 0;
  if (accepts('br')) return 'br';
  if (accepts('gzip')) return 'gzip';
  return 'identity';
}

function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(',').some((tag) => {
    const t = tag.trim().replace(/^W\//, '');
    return t === '*' || t === etag;
  });
}

/** Adds to Vary rather than replacing it (the CORS plugin has put Origin there). */
function addVary(reply: FastifyReply, field: string): void {
  const current = reply.getHeader('vary');
  reply.header('Vary', current ? `${String(current)}, ${field}` : field);
}

export function sdkRoutes(app: FastifyInstance, dir: string = browserBuildDir): void {
  const current = buildCache(dir);
  app.get<{ Params: { file: string } }>('/sdk/:file', async (request, reply) => {
    const { file } = request.params;
    if (!publicSdkFiles.includes(file)) {
      return reply.code(404).send({ error: 'not_found', message: `/sdk/ serves only the browser builds ${publicSdkFiles.join(', ')}` });
    }
    const build = await current(file);
    if (!build) {
      return reply.code(404).send({ error: 'sdk_not_built', message: `the browser SDK is not built on this collector (dist/browser/${file} is missing): run npm run build` });
    }
    const encoding = chooseEncoding(request.headers['accept-encoding']);
    const { body, etag } = build[encoding];
    addVary(reply, 'Accept-Encoding');
    void reply
      .header('Content-Type', 'text/javascript; charset=utf-8')
      .header('Cache-Control', cacheControl)
      .header('ETag', etag)
      .header('X-Content-Type-Options', 'nosniff')
      // Public files any site may load, also with <script crossorigin> (SRI) or under COEP.
      .header('Access-Control-Allow-Origin', '*')
      .header('Cross-Origin-Resource-Policy', 'cross-origin');
    if (matches(request.headers['if-none-match'], etag)) return reply.code(304).send();
    if (encoding !== 'identity') void reply.header('Content-Encoding', encoding);
    return reply.send(body);
  });
}
