// Runs a funnel built by query/funnel.ts.
import { queryRows, type ClickHouseClient } from './client';
import { compileFunnel, type FunnelQuery } from '../query/funnel';

/** Persons reaching each step of `query`, in step order. */
export async function funnelCounts(client: ClickHouseClient, query: FunnelQuery): Promise<number[]> {
  const [row] = await queryRows<Record<string, number>>(client, compileFunnel(query));
  return query.steps.map((_, i) => Number(row?.[`step_${i + 1}`] ?? 0));
}
