// Debian's Chromium driven by playwright-core, with a fresh profile each time (no downloaded browser).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { chromiumPath } from '../../scripts/chromium';

export const chromiumFlags = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Launches Chromium with a fresh profile, or with `profileDir` (kept on close, to test a browser restart).
 * `backForwardCache`: keep it on (Playwright turns it off by default), to test a page restored from it.
 */
export async function launchBrowser(profileDir?: string, { backForwardCache = false } = {}): Promise<TestBrowser> {
  const userDataDir = profileDir ?? mkdtempSync(join(tmpdir(), 'tagflow-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumFlags,
    ignoreDefaultArgs: backForwardCache ? ['--disable-back-forward-cache'] : undefined,
  });
  return {
    context,
    async close() {
      await context.close();
      if (!profileDir) rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
