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

/**
 * A desktop Chrome's user agent, for tests about shoppers. Headless Chromium's own names HeadlessChrome, which the
 * collector flags as a bot (is_bot), and the person-level views leave bots' events out.
 */
export const desktopChrome = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';

export interface BrowserOptions {
  /** Keep the back/forward cache on (Playwright turns it off by default), to test a page restored from it. */
  backForwardCache?: boolean;
  /** The user agent pages see and send (default: headless Chromium's, a bot to the collector; see desktopChrome). */
  userAgent?: string;
}

export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Launches Chromium with a fresh profile, or with `profileDir` (kept on close, to test a browser restart). */
export async function launchBrowser(profileDir?: string, { backForwardCache = false, userAgent }: BrowserOptions = {}): Promise<TestBrowser> {
  const userDataDir = profileDir ?? mkdtempSync(join(tmpdir(), 'tagflow-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumFlags,
    ignoreDefaultArgs: backForwardCache ? ['--disable-back-forward-cache'] : undefined,
    ...(userAgent === undefined ? {} : { userAgent }),
  });
  return {
    context,
    async close() {
      await context.close();
      if (!profileDir) rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
