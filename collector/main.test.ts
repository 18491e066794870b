import { describe, expect, it } from 'vitest';
import { startTestCollector } from '../test/support/collector';
import { startCollector, StartupError } from './main';

describe('collector start', () => {
  it('explains in one sentence what to do when ClickHouse is unreachable', async () => {
    const config = {
      host: '127.0.0.1',
      port: 0,
      clickhouse: { url: 'http://127.0.0.1:1', database: 'x' },
      sources: [{ id: 's', writeKey: 'wk-12345678', allowedOrigins: [], keepFullIp: false }],
      serveDemo: false,
    };
    const failure = startCollector(config);
    await expect(failure).rejects.toBeInstanceOf(StartupError);
    await expect(failure).rejects.toThrow(/^ClickHouse is not reachable at http:\/\/127\.0\.0\.1:1: start it .* or set CLICKHOUSE_URL to a running server\.$/);
  });

  it('explains which address is taken when its port is in use', async () => {
    const first = await startTestCollector();
    try {
      const failure = startCollector({ ...first.config, spool: undefined });
      await expect(failure).rejects.toBeInstanceOf(StartupError);
      await expect(failure).rejects.toThrow(`cannot listen on 127.0.0.1:${first.config.port}`);
      await expect(failure).rejects.toMatchObject({ cause: { code: 'EADDRINUSE' } });
    } finally {
      await first.close();
    }
  });
});
