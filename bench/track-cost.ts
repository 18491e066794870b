// Main-thread cost of tagflow.track() in headless Chromium (the IIFE build, IndexedDB queue live),
// against baselines measured in the same page and run. performance.now() is coarse in browsers
// (5 µs when cross-origin isolated), so calls are timed in blocks of 100 and the median block is
// divided by 100: 100 blocks = 10,000 calls per subject.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser } from '../test/support/browser';

const origin = 'https://tagflow.bench'; // a secure context, as most shops are (crypto.randomUUID)
const blocks = 100;
const perBlock = 100;

interface Result {
  subject: string;
  /** Median µs per call. */
  median: number;
  /** 90th percentile µs per call. */
  p90: number;
}

/**
 * Runs in the page: times `blocks` blocks of `perBlock` calls of each subject. Plain JavaScript text,
 * because tsx would add helpers to a compiled function that do not exist in the page.
 */
const measure = `async (blocks, perBlock) => {
  window.dataLayer = [];
  const noop = (_event, _properties) => undefined;
  const props = (i) => ({ product_id: 'shoe-1', price: 89, currency: 'EUR', i });
  const subjects = [
    ['empty function call (baseline)', (i) => noop('Product Added', props(i))],
    ['dataLayer.push (GTM hot path)', (i) => void window.dataLayer.push({ event: 'Product Added', ...props(i) })],
    ['JSON.stringify of a similar event', (i) => void JSON.stringify({ type: 'track', event: 'Product Added', properties: props(i), messageId: crypto.randomUUID(), context: { page: { url: location.href } } })],
    ['tagflow.track()', (i) => window.tagflow.track('Product Added', props(i))],
  ];
  const results = [];
  for (const [subject, call] of subjects) {
    const perCall = [];
    for (let b = 0; b < blocks; b++) {
      const start = performance.now();
      for (let i = 0; i < perBlock; i++) call(b * perBlock + i);
      perCall.push(((performance.now() - start) * 1000) / perBlock);
      await new Promise((resolve) => setTimeout(resolve, 0)); // deferred work (IndexedDB writes) runs between blocks
    }
    perCall.sort((a, b) => a - b);
    results.push({ subject, median: perCall[Math.floor(blocks / 2)], p90: perCall[Math.floor(blocks * 0.9)] });
  }
  return results;
}`;

/** Markdown section: µs per call and ratios against the empty function call. */
export async function trackCostSection(root: string): Promise<string> {
  const iife = readFileSync(join(root, 'dist', 'browser', 'tagflow.min.js'), 'utf8');
  const browser = await launchBrowser();
  try {
    const { context } = browser;
    const config = { writeKey: 'bench', endpoint: origin, src: '' };
    await context.addInitScript({ content: `window.tagflow = Object.assign([], { config: ${JSON.stringify(config)} });\n${iife}` });
    await context.route(`${origin}/**`, (route) =>
      route.request().url().endsWith('/v1/batch')
        ? route.fulfill({ contentType: 'application/json', body: '{"accepted":1,"rejected":[]}' })
        : // Cross-origin isolation gives performance.now() 5 µs resolution instead of 100 µs.
          route.fulfill({
            contentType: 'text/html',
            headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
            body: '<!doctype html><title>bench</title>',
          }),
    );
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    await page.evaluate(`(${measure})(20, ${perBlock})`); // warm-up (JIT, IndexedDB open)
    const results = (await page.evaluate(`(${measure})(${blocks}, ${perBlock})`)) as Result[];
    const isolated = (await page.evaluate('crossOriginIsolated')) as boolean;
    const base = results[0]?.median ?? 0;
    const times = (r: Result) => (base > 0 ? `${(r.median / base).toFixed(0)}×` : '–');
    return [
      `Headless Chromium, ${blocks * perBlock} calls per subject timed in blocks of ${perBlock}; µs per call (median and p90 of the blocks). Target for track(): at most 10 µs.`,
      '',
      `crossOriginIsolated: ${String(isolated)}.`,
      '',
      '| subject | median µs | p90 µs | × empty call |',
      '|---|---:|---:|---:|',
      ...results.map((r) => `| ${r.subject} | ${r.median.toFixed(2)} | ${r.p90.toFixed(2)} | ${times(r)} |`),
    ].join('\n');
  } finally {
    await browser.close();
  }
}
