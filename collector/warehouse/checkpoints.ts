// Where each incremental warehouse job got to (job_checkpoints, migrations/020_identities.sql): the received_at
// of the newest event it has processed, and the version of the run that wrote it.
import { queryRows, type ClickHouseClient } from './client';
import { str } from '../query/literal';

export interface Checkpoint {
  /** Seconds since the epoch; 0 before the first run. */
  position: number;
  /** The version the newest checkpoint was written with; 0 before the first run. */
  version: number;
}

export async function readCheckpoint(client: ClickHouseClient, job: string): Promise<Checkpoint> {
  // Aliases never reuse a column name: 18.16 substitutes aliases into the other expressions of the query.
  const [row] = await queryRows<{ newest_position: number; newest_version: number }>(
    client,
    `SELECT toUInt32(argMax(position, version)) AS newest_position, max(version) AS newest_version FROM job_checkpoints WHERE job = ${str(job)}`,
  );
  return { position: Number(row?.newest_position ?? 0), version: Number(row?.newest_version ?? 0) };
}

/** Records `position` (ClickHouse DateTime text, as toDateTimeText writes it) for `job`; the highest version wins. */
export async function writeCheckpoint(client: ClickHouseClient, job: string, position: string, version: number): Promise<void> {
  await client.insert({ table: 'job_checkpoints', values: [{ job, position, version }], format: 'JSONEachRow' });
}
