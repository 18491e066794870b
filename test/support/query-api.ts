// What the query API's capacity tests share: a collector with the admin token and chosen limits, the limiter's
// load as GET /metrics shows it, a segment run of one member with an e-mail, and how to tell an export's rows
// query and a ClickHouse time-out in the gate's traffic (test/support/clickhouse-gate.ts).
import type { CollectorConfig } from '../../collector/config';
import { startCollector, type RunningCollector, type StartOptions } from '../../collector/main';
import { privateSettleMs, type TestDatabase } from './clickhouse';

export const adminToken = 'admin-token-0123456789';

/** A collector on `clickhouseUrl` (ClickHouse, or a gate in front of it) with the query API and `limits` (and `logger`, none by default). */
export function startQueryCollector(clickhouseUrl: string, database: string, limits: CollectorConfig['limits'], logger?: StartOptions['logger']): Promise<RunningCollector> {
  const config: CollectorConfig = {
    host: '127.0.0.1',
    port: 0,
    clickhouse: { url: clickhouseUrl, database },
    sources: [{ id: 'test-source', writeKey: 'test-write-key', allowedOrigins: [], keepFullIp: false }],
    serveDemo: false,
    shipper: { intervalMs: 50 },
    adminToken,
    limits,
  };
  return startCollector(config, { migrationSettleMs: privateSettleMs, ...(logger ? { logger } : {}) });
}

/** The limiter's load as GET /metrics shows it. */
export async function queryLoad(collector: RunningCollector): Promise<{ running: number; waiting: number }> {
  const text = await (await fetch(`${collector.url}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } })).text();
  const gauge = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { running: gauge('tagflow_queries_running'), waiting: gauge('tagflow_queries_waiting') };
}

/** The query of a GET export (segments.ts exportSql: its rows, carrying the counts), as the gate sees its SQL. */
export const isExportRowsQuery = (sql: string): boolean => sql.includes('SELECT person_id, emails, phones, phone_digits, with_contacts') && sql.includes('ORDER BY person_id');

/** What 18.16 answers for a query stopped at max_execution_time. */
export const clickhouseTimeoutText = 'Code: 159, e.displayText() = DB::Exception: Timeout exceeded: elapsed 60.000 seconds, maximum: 60, e.what() = DB::Exception\n';

/** Run 1 of `segment`: one member, `user:ann`, whose e-mail hash is `emailHash`. */
export async function seedOneMemberRun(db: TestDatabase, segment: string, emailHash: string): Promise<void> {
  const at = '2026-01-01 00:00:00';
  await db.client.insert({ table: 'identities', values: [{ identifier: `email:${emailHash}`, valid_from: '1970-01-01 00:00:00', person_id: 'user:ann', mapped_at: at, version: 1 }], format: 'JSONEachRow' });
  await db.client.insert({ table: 'segment_members', values: [{ segment_id: segment, run: 1, run_token: 't', person_id: 'user:ann', computed_at: at }], format: 'JSONEachRow' });
  await db.client.insert({ table: 'segment_runs', values: [{ segment_id: segment, run: 1, run_token: 't', computed_at: at, members: 1, entered_count: 1, left_count: 0 }], format: 'JSONEachRow' });
}
