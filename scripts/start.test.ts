// `npm start` as a newcomer runs it: it prints the shop URL, and opening the shop in Chromium adds a
// row to the events table.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createWarehouseClient } from '../collector/warehouse/client';
import { launchBrowser, type TestBrowser } from '../test/support/browser';
import { waitUntil } from '../test/support/clickhouse';
import { freePort } from './free-port';
import { startBanner } from './start';

let child: ChildProcess | undefined;
let browser: TestBrowser | undefined;
const database = `tf_start_${randomBytes(4).toString('hex')}`;
const client = createWarehouseClient(inject('clickhouseUrl'));

afterAll(async () => {
  await browser?.close();
  if (child?.pid) process.kill(-child.pid, 'SIGTERM');
  await client.command({ query: `DROP DATABASE IF EXISTS ${database}` });
  await client.close();
});

describe('npm start', () => {
  it('prints the shop URL, and opening the shop adds a row to the events table', async () => {
    const port = await freePort();
    let output = '';
    child = spawn('npx', ['tsx', 'scripts/start.ts', '--no-build'], {
      env: { ...process.env, PORT: String(port), CLICKHOUSE_URL: inject('clickhouseUrl'), CLICKHOUSE_DATABASE: database },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const printed = await waitUntil(async () => /Demo shop:\s+(\S+)/.exec(output)?.[1], (url) => url !== undefined, 60_000);
    expect(printed).toBe(`http://127.0.0.1:${port}/`);
    // CLICKHOUSE_URL names a server npm start did not start: it is not for npm run clickhouse:stop.
    await waitUntil(async () => output, (text) => text.includes('Stop with Ctrl-C'));
    expect(output).not.toContain('clickhouse:stop');
    // A newcomer's first start warns of nothing (pino's warn level is 40): the demo config serves /metrics openly.
    expect(output).not.toContain('"level":40');
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);

    browser = await launchBrowser();
    const page = await browser.context.newPage();
    await page.goto(printed ?? '');
    const count = async () => {
      const result = await client.query({ query: `SELECT count() AS n FROM ${database}.events WHERE type = 'page'`, format: 'JSONEachRow' });
      const [row] = await result.json<{ n: string }>();
      return Number(row?.n ?? 0);
    };
    expect(await waitUntil(count, (n) => n >= 1)).toBe(1);
  }, 90_000);
});

describe('the start banner', () => {
  const banner = { base: 'http://127.0.0.1:8080', clickhouseUrl: 'http://127.0.0.1:8123', database: 'tagflow' };

  it('says how to stop the project-local ClickHouse it runs', () => {
    expect(startBanner({ ...banner, projectLocalClickHouse: true })).toContain('The project-local ClickHouse keeps running; stop it with npm run clickhouse:stop.');
  });

  it('says nothing about stopping a ClickHouse named by CLICKHOUSE_URL, which is not ours to stop', () => {
    const text = startBanner({ ...banner, projectLocalClickHouse: false });
    expect(text).toContain('ClickHouse:  http://127.0.0.1:8123 (database tagflow)');
    expect(text).not.toContain('clickhouse:stop');
  });
});
