// The usual frame of a browser test file: its own collector (with its own ClickHouse database) and its
// own Chromium, started before the file's tests and closed after them.
import { afterAll, beforeAll } from 'vitest';
import type { SourceConfig } from '../../collector/config';
import { launchBrowser, type BrowserOptions, type TestBrowser } from './browser';
import { startTestCollector, type TestCollector } from './collector';
import { browserPool } from './sdk-page';

export interface BrowserSuite {
  collector: TestCollector;
  browser: TestBrowser;
}

/**
 * Registers beforeAll/afterAll hooks; the returned object is filled in before the first test runs. `browser`: for a
 * test about shoppers in the person-level views, `{ userAgent: desktopChrome }` (headless Chromium is a bot).
 */
export function browserSuite(overrides: Partial<SourceConfig> = {}, browser: BrowserOptions = {}): BrowserSuite {
  const suite = {} as BrowserSuite;
  beforeAll(async () => {
    suite.collector = await startTestCollector(overrides);
    suite.browser = await launchBrowser(undefined, browser);
  });
  afterAll(async () => {
    await suite.browser?.close();
    await suite.collector?.close();
  });
  return suite;
}

export interface BrowserPoolSuite {
  collector: TestCollector;
  /** A fresh Chromium (own profile and IndexedDB) per scenario, all closed after the file's tests. */
  browsers: ReturnType<typeof browserPool>;
}

/** Like {@link browserSuite}, for files whose scenarios each need a browser of their own. */
export function browserPoolSuite(): BrowserPoolSuite {
  const suite = { browsers: browserPool() } as BrowserPoolSuite;
  beforeAll(async () => {
    suite.collector = await startTestCollector();
  });
  afterAll(async () => {
    await suite.browsers.closeAll();
    await suite.collector?.close();
  });
  return suite;
}
