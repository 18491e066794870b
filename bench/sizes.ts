// Byte sizes of the SDK builds: raw, gzip and brotli (deterministic, unlike timings).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

export interface Size {
  raw: number;
  gzip: number;
  brotli: number;
}

export function sizeOf(code: string | Buffer): Size {
  const buffer = typeof code === 'string' ? Buffer.from(code) : code;
  return {
    raw: buffer.length,
    gzip: gzipSync(buffer, { level: 9 }).length,
    brotli: brotliCompressSync(buffer, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
}

export function sizeOfFile(path: string): Size {
  return sizeOf(readFileSync(path));
}

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

/** Markdown table of every browser build file and of the npm build's JavaScript in total. */
export function sizesSection(root: string): string {
  const browser = listFiles(join(root, 'dist', 'browser')).filter((f) => f.endsWith('.js'));
  const npmJs = listFiles(join(root, 'dist', 'sdk')).filter((f) => f.endsWith('.js'));
  const npmTotal = sizeOf(Buffer.concat(npmJs.map((f) => readFileSync(f))));
  const rows = browser.map((f) => ({ name: relative(root, f), ...sizeOfFile(f) }));
  rows.push({ name: `dist/sdk/**/*.js (${npmJs.length} modules, concatenated)`, ...npmTotal });
  const kb = (n: number) => `${(n / 1024).toFixed(2)} KB`;
  return [
    '| file | raw | gzip | brotli |',
    '|---|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${kb(r.raw)} | ${kb(r.gzip)} | ${kb(r.brotli)} |`),
  ].join('\n');
}
