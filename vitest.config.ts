import { defineConfig } from 'vitest/config';

// Three kinds of tests, each in its own environment:
//  - sdk: fast unit tests under happy-dom
//  - node: collector and warehouse tests against the real ClickHouse (a database per test file)
//  - browser: real Chromium against a real collector and ClickHouse
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'sdk',
          include: ['sdk/**/*.test.ts'],
          environment: 'happy-dom',
          // Scripts the SDK injects (the snippet's loader, tags) are not fetched in unit tests.
          environmentOptions: { happyDOM: { settings: { disableJavaScriptFileLoading: true, handleDisabledFileLoadingAsSuccess: true } } },
        },
      },
      // Only these two need a ClickHouse: a run of the sdk project alone starts none.
      { extends: true, test: { name: 'node', include: ['collector/**/*.test.ts', 'scripts/**/*.test.ts', 'test/build/**/*.test.ts'], environment: 'node', globalSetup: ['test/support/global-setup.ts'] } },
      { extends: true, test: { name: 'browser', include: ['test/browser/**/*.test.ts'], environment: 'node', testTimeout: 60_000, globalSetup: ['test/support/global-setup.ts'] } },
    ],
  },
});
