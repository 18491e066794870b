// The one place that creates ClickHouse clients. Settings follow the 18.16-compatible allow-list.
import { ClickHouseLogLevel, createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';

export type { ClickHouseClient };

export interface WarehouseClientOptions {
  requestTimeoutMs?: number;
  /**
   * Settings sent with every request of this client (each call's own settings are added to them), from the
   * 18.16-compatible allow-list only: the query API's client carries its time limit this way, the shipper's and
   * the jobs' clients carry none.
   */
  settings?: ClickHouseSettings;
}

/** A client bound to `database` (omit it for server-level DDL such as CREATE DATABASE). */
export function createWarehouseClient(url: string, database?: string, options: WarehouseClientOptions = {}): ClickHouseClient {
  return createClient({
    url,
    username: 'default',
    password: '',
    ...(database ? { database } : {}),
    request_timeout: options.requestTimeoutMs ?? 60_000,
    max_open_connections: 10,
    keep_alive: { enabled: true },
    clickhouse_settings: options.settings ?? {},
    // Every failed request is thrown to its caller, which logs it with context (the shipper: structured,
    // once per retry). The client's own log would print each one again, as a bare stack trace on stderr.
    log: { level: ClickHouseLogLevel.OFF },
  });
}

/**
 * ClickHouse's numeric error code from a client error. A modern server's error is a ClickHouseError whose `.code`
 * holds it and whose message no longer does (the client cuts `Code: 159. DB::Exception:` off); an 18.16 error is a
 * plain Error whose message starts with `Code: 159, e.displayText() = …`, as does an error row read mid-stream.
 */
export function clickhouseErrorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^\d+$/.test(code)) return code;
  const message = error instanceof Error ? error.message : String(error);
  return /Code: (\d+)/.exec(message)?.[1];
}

/** Database names we create are plain identifiers; refuse anything else rather than quote it. */
export function assertIdentifier(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`not a plain identifier: ${JSON.stringify(name)}`);
  return name;
}

/** Rows of a bounded query as objects; 64-bit integers as numbers, errors reported even mid-result. */
export async function queryRows<T>(client: ClickHouseClient, query: string): Promise<T[]> {
  const result = await client.query({
    query,
    format: 'JSONEachRow',
    clickhouse_settings: { output_format_json_quote_64bit_integers: 0, wait_end_of_query: 1 },
  });
  return result.json<T>();
}

/** Inserts `values` as JSONEachRow in inserts of at most 50,000 rows (a big job's rows stay bounded per request). */
export async function insertRows(client: ClickHouseClient, table: string, values: object[]): Promise<void> {
  for (let i = 0; i < values.length; i += 50_000) await client.insert({ table, values: values.slice(i, i + 50_000), format: 'JSONEachRow' });
}
