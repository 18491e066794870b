// Keeps person_events_stored (migrations/030_person_events.sql) up to date; called by the identity job right
// after it resolves identities:
//  1. markStaleNodes: identifiers whose person changed (mappings.ts) go to stale_nodes; the person_events view
//     re-attributes their stored rows at read time, so a merge costs a few rows, not a rewrite.
//  2. appendPersonEvents: rewrites the buckets (partitions) that need it (the squash of stale nodes, when due,
//     and rows a newer delivery supersedes), then appends every event key not stored yet, newest delivery,
//     attributed with the latest identities.
import { readCheckpoint, writeCheckpoint } from '../checkpoints';
import { insertRows, queryRows, type ClickHouseClient } from '../client';
import { crawlerDelivery, jobSql } from '../job-sql';
import { toDateTimeText } from '../../ingest/normalize';
import { dt, int, str } from '../../query/literal';

export const personEventsJob = 'person_events';
/** Partitions of person_events_stored: bucket = cityHash64(node) % buckets. */
export const buckets = 16;

export interface PersonEventsOptions {
  /** Seconds behind the checkpoint to look again (late inserts); see IdentityJobOptions.overlapSeconds. */
  overlapSeconds: number;
  /** Squash when at least this many stale identifiers wait (default 10,000)… */
  squashAfterNodes?: number;
  /** …or when the oldest has waited this long (default 3600 s). */
  squashAfterSeconds?: number;
}

export interface PersonEventsResult {
  /** Event keys appended. */
  appended: number;
  /** Buckets rewritten (squash and superseded deliveries). */
  rewrittenBuckets: number;
}

/**
 * Records in stale_nodes the identifiers of `moved` (mappingChanges: their person changed) that have stored rows.
 * Call before writing their new identities (a crash in between leaves stale marks, which only cost reads).
 */
export async function markStaleNodes(client: ClickHouseClient, moved: string[]): Promise<number> {
  // Nothing stored yet (the first run): no row to re-attribute.
  if (moved.length === 0 || (await storedCount(client)) === 0) return 0;
  const markedAt = toDateTimeText(Date.now());
  const stale = (await withStoredRows(client, moved)).map((node) => ({ node, marked_at: markedAt }));
  await insertRows(client, 'stale_nodes', stale);
  return stale.length;
}

/**
 * The identifiers of `nodes` that have rows in person_events_stored: a new device that logs in before any of its
 * events were stored needs no re-attribution, and marking it would only bring the next squash closer. A
 * whole-graph run keeps them all (rare; one scan per 2,000 identifiers would cost more than the squash).
 */
async function withStoredRows(client: ClickHouseClient, nodes: string[]): Promise<string[]> {
  if (nodes.length > 20_000) return nodes;
  const found: string[] = [];
  for (let i = 0; i < nodes.length; i += 2000) {
    const rows = await queryRows<{ node: string }>(
      client,
      `SELECT DISTINCT node FROM person_events_stored WHERE node_key IN (SELECT cityHash64(arrayJoin([${nodes.slice(i, i + 2000).map(str).join(', ')}])))`,
    );
    found.push(...rows.map((r) => r.node));
  }
  return found;
}

const command = (client: ClickHouseClient, query: string) => client.command({ query, clickhouse_settings: { wait_end_of_query: 1 } });

const staging = ['person_events_staging', 'person_days_staging'] as const;

/**
 * Rebuilds `which` buckets from their stored rows (minus superseded ones) with the current identities:
 * into person_events_staging (its materialized view fills person_days_staging), then both swapped in.
 */
async function rewriteBuckets(client: ClickHouseClient, which: number[], superseded: string): Promise<void> {
  for (const table of staging) await command(client, `TRUNCATE TABLE ${table}`);
  const inBuckets = `(${which.map(int).join(', ')})`;
  const rows = jobSql('stored_bucket_rows', { buckets: inBuckets, superseded });
  const nodes = `SELECT node FROM person_events_stored WHERE bucket IN ${inBuckets}`;
  await command(client, jobSql('attribute_person_events', { target: 'person_events_staging', rows, nodes }));
  // Atomic per partition; a bucket the staging table has no rows for becomes empty. The rollup first: until
  // person_events_stored's bucket is replaced, what made this bucket due (superseded rows, stale_nodes) is still
  // there, so a run interrupted between the two statements is redone whole by the next run.
  for (const bucket of which) {
    await command(client, `ALTER TABLE person_days_stored REPLACE PARTITION ${int(bucket)} FROM person_days_staging`);
    await command(client, `ALTER TABLE person_events_stored REPLACE PARTITION ${int(bucket)} FROM person_events_staging`);
  }
  for (const table of staging) await command(client, `TRUNCATE TABLE ${table}`);
}

/** Brings person_events_stored up to date with events received since the checkpoint (minus the overlap). */
export async function appendPersonEvents(client: ClickHouseClient, options: PersonEventsOptions): Promise<PersonEventsResult> {
  const previous = (await readCheckpoint(client, personEventsJob)).position;
  const window = `received_at >= ${dt(Math.max(0, previous - options.overlapSeconds) * 1000)}`;
  const [span] = await queryRows<{ newest: number; n: number }>(client, `SELECT toUInt32(max(received_at)) AS newest, count() AS n FROM events WHERE ${window}`);

  const [stale] = await queryRows<{ n: number; oldest: number }>(client, 'SELECT count() AS n, toUInt32(min(marked_at)) AS oldest FROM stale_nodes');
  const staleCount = Number(stale?.n ?? 0);
  const squash =
    staleCount > 0 &&
    (staleCount >= (options.squashAfterNodes ?? 10_000) || Date.now() / 1000 - Number(stale?.oldest) >= (options.squashAfterSeconds ?? 3600));
  // With nothing stored yet (first run, or the upgrade from the person_events view) there is nothing to
  // supersede or rewrite, and the window may be all of history: skip both scans.
  const before = await storedCount(client);
  const superseded = before === 0 ? 'SELECT source, message_id, original_day, received_at FROM person_events_stored WHERE 0' : jobSql('superseded_events', { window });
  const rewrite =
    before === 0
      ? []
      : await queryRows<{ bucket: number }>(
          client,
          `SELECT DISTINCT bucket FROM person_events_stored WHERE (source, message_id, original_day, received_at) IN (${superseded})
           ${squash ? 'UNION ALL SELECT DISTINCT bucket FROM stale_nodes' : ''}`,
        );
  const which = [...new Set(rewrite.map((r) => Number(r.bucket)))].sort((a, b) => a - b);
  if (which.length > 0) await rewriteBuckets(client, which, superseded);
  if (squash) await command(client, 'TRUNCATE TABLE stale_nodes');

  let appended = 0;
  if (Number(span?.n ?? 0) > 0) {
    // One month of original_timestamp (one events partition) at a time keeps the deduplication's memory bounded.
    const months = await queryRows<{ month: number }>(client, `SELECT DISTINCT toYYYYMM(original_timestamp) AS month FROM events WHERE ${window} ORDER BY month`);
    for (const { month } of months) {
      const monthWindow = `${window} AND toYYYYMM(original_timestamp) = ${int(Number(month))}`;
      const rows = jobSql('fresh_events', { window: monthWindow, crawler: crawlerDelivery });
      const nodes = jobSql('window_nodes', { window: monthWindow });
      await command(client, jobSql('attribute_person_events', { target: 'person_events_stored', rows, nodes }));
    }
    appended = (await storedCount(client)) - before;
    await writeCheckpoint(client, personEventsJob, toDateTimeText(Math.max(previous, Number(span?.newest)) * 1000), Date.now());
  }
  return { appended, rewrittenBuckets: which.length };
}

async function storedCount(client: ClickHouseClient): Promise<number> {
  const [row] = await queryRows<{ n: number }>(client, 'SELECT count() AS n FROM person_events_stored');
  return Number(row?.n ?? 0);
}
