// Runs a funnel built by query/funnel.ts.
import type { ClickHouseClient } from './client';
import { compileFunnel, type FunnelQuery } from '../query/funnel';
import { querySizeSettings } from '../query/size';

/** Persons reaching each step of `query`, in step order. */
export async function funnelCounts(client: ClickHouseClient, query: FunnelQuery): Promise<number[]> {
  // A funnel within the documented limits compiles to up to about 3 MB of SQL: more than ClickHouse parses by default.
  const result = await client.query({
    query: compileFunnel(query),
    format: 'JSONEachRow',
    clickhouse_settings: { output_format_json_quote_64bit_integers: 0, wait_end_of_query: 1, ...querySizeSettings },
  });
  const [row] = await result.json<Record<string, number>>();
  return query.steps.map((_, i) => Number(row?.[`step_${i + 1}`] ?? 0));
}
