// Erasure of a person (GDPR Art. 17, 152-FZ): requests (POST /v1/erasures) are recorded in `erasures` and carried out
// by the identity job's runner right after an identity run (jobs.ts), inside its lease, so no identity run writes
// while rows are deleted and the newest events are already attributed. See docs/analytics.md, "Erasure (right to be
// forgotten)", and migrations/045_erasures.sql.
// Each erasure goes through steps that can all be run again, so a process killed anywhere leaves an erasure that the
// next run completes: the targets (what to delete) are written once, marked `ready` last; the row counts are recorded
// before the first DELETE and reused; the DELETEs read the targets, so repeating them deletes nothing more; the done
// row comes only after every mutation has finished.
import { randomUUID } from 'node:crypto';
import { readCheckpoint } from './checkpoints';
import { insertRows, queryRows, type ClickHouseClient } from './client';
import { toDateTimeText } from '../ingest/normalize';
import { linkMessagePrefix } from '../ingest/event';
import { erasureNode, type ErasureKind, type ErasureRequest } from '../query/erasure-request';
import { int, str, strList } from '../query/literal';
import { normalizeEmail, normalizePhone, previousEdgePrefix, sha256 } from './identity/identifiers';
import { identityJob } from './identity/job';

export type ErasureStatus = 'pending' | 'running' | 'done';

/** An erasure as GET /v1/erasures/:id answers it. */
export interface ErasureView {
  id: string;
  status: ErasureStatus;
  requestedAt: string;
  finishedAt?: string;
  /** Rows deleted per table, counted before deleting. */
  deleted?: Record<string, number>;
}

/** The newest row of an erasure. */
interface ErasureState {
  id: string;
  version: number;
  status: ErasureStatus;
  kind: ErasureKind;
  value: string;
  node: string;
  requestedAt: number;
  finishedAt: number;
  deleted: Record<string, number> | undefined;
}

// Aliases never reuse a column name: 18.16 substitutes aliases into other expressions of the query.
interface StateRow {
  id: string;
  e_version: number;
  e_status: string;
  e_kind: string;
  e_value: string;
  e_node: string;
  e_requested: number;
  e_finished: number;
  e_deleted: string;
}

const stateColumns = `id, max(version) AS e_version, argMax(status, version) AS e_status, argMax(kind, version) AS e_kind,
  argMax(value, version) AS e_value, argMax(node, version) AS e_node, toUInt32(argMax(requested_at, version)) AS e_requested,
  toUInt32(argMax(finished_at, version)) AS e_finished, argMax(deleted, version) AS e_deleted`;

const toState = (row: StateRow): ErasureState => ({
  id: row.id,
  version: Number(row.e_version),
  status: row.e_status as ErasureStatus,
  kind: row.e_kind as ErasureKind,
  value: row.e_value,
  node: row.e_node,
  requestedAt: Number(row.e_requested) * 1000,
  finishedAt: Number(row.e_finished) * 1000,
  deleted: row.e_deleted === '' ? undefined : (JSON.parse(row.e_deleted) as Record<string, number>),
});

/** Writes the next state of an erasure: a new row with a higher version (ReplacingMergeTree keeps the newest). */
async function writeState(client: ClickHouseClient, state: ErasureState, nodeHash = ''): Promise<ErasureState> {
  const next = { ...state, version: Math.max(Date.now(), state.version + 1) };
  await insertRows(client, 'erasures', [
    {
      id: next.id,
      version: next.version,
      status: next.status,
      kind: next.kind,
      value: next.value,
      node: next.node,
      node_hash: nodeHash,
      requested_at: toDateTimeText(next.requestedAt),
      finished_at: toDateTimeText(next.finishedAt),
      deleted: next.deleted === undefined ? '' : JSON.stringify(next.deleted),
    },
  ]);
  return next;
}

/** Records a pending erasure of the person `request` names; the identity job's next run carries it out. */
export async function requestErasure(client: ClickHouseClient, request: ErasureRequest): Promise<{ id: string; status: 'pending' }> {
  const id = randomUUID();
  await writeState(client, { id, version: 0, status: 'pending', ...request, node: erasureNode(request), requestedAt: Date.now(), finishedAt: 0, deleted: undefined });
  return { id, status: 'pending' };
}

const isoTime = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');

/** The erasure `id` as the API shows it, or undefined when there is none. */
export async function readErasure(client: ClickHouseClient, id: string): Promise<ErasureView | undefined> {
  const [row] = await queryRows<StateRow>(client, `SELECT ${stateColumns} FROM erasures WHERE id = ${str(id)} GROUP BY id`);
  if (!row) return undefined;
  const state = toState(row);
  const view: ErasureView = { id: state.id, status: state.status, requestedAt: isoTime(state.requestedAt) };
  if (state.status !== 'done') return view;
  return { ...view, finishedAt: isoTime(state.finishedAt), ...(state.deleted ? { deleted: state.deleted } : {}) };
}

/** `erasure_targets` rows of one erasure and kind, for an `IN (…)`. */
const targets = (erasureId: string, kind: string, column = 'value'): string =>
  `(SELECT ${column} FROM erasure_targets WHERE erasure_id = ${str(erasureId)} AND kind = ${str(kind)})`;

interface TargetRow {
  erasure_id: string;
  kind: string;
  source: string;
  value: string;
  /** A `message`'s day of original_timestamp (migrations/046); the zero day for the other kinds. */
  day: string;
}

/** The identifiers of the person a node maps to now: its own ones, and shared devices (also another person's). */
async function identifiersOf(client: ClickHouseClient, node: string): Promise<{ person: string; own: string[]; shared: string[] }> {
  // The person a shared device maps to last: whoever uses it now. Erasing another one of its users takes their userId.
  const periods = await queryRows<{ person_id: string }>(client, `SELECT person_id FROM identities_current WHERE identifier = ${str(node)} ORDER BY valid_from DESC LIMIT 1`);
  const person = periods[0]?.person_id ?? node;
  const owners = await queryRows<{ identifier: string; owners: string[] }>(
    client,
    `SELECT identifier, groupUniqArray(person_id) AS owners FROM identities_current
     WHERE identifier IN (SELECT identifier FROM identities_current WHERE person_id = ${str(person)})
     GROUP BY identifier`,
  );
  const own = owners.filter((row) => row.owners.length === 1).map((row) => row.identifier);
  const shared = owners.filter((row) => row.owners.length > 1).map((row) => row.identifier);
  // An identifier the graph never mapped is its own person: its events still carry it.
  if (!own.includes(node) && !shared.includes(node)) own.push(node);
  return { person, own, shared };
}

/** JSON strings that quarantined payloads would hold the person's plain identifiers as. */
function quarantineNeedles(erasure: Pick<ErasureState, 'kind' | 'value'>, own: readonly string[]): string[] {
  const plain = own.filter((node) => node.startsWith('user:') || node.startsWith('anon:')).map((node) => node.slice(5));
  if (erasure.kind === 'email') plain.push(erasure.value, normalizeEmail(erasure.value) ?? erasure.value);
  if (erasure.kind === 'phone') plain.push(erasure.value, normalizePhone(erasure.value) ?? erasure.value);
  return [...new Set(plain.map((value) => JSON.stringify(value)))];
}

const isReady = async (client: ClickHouseClient, erasureId: string): Promise<boolean> =>
  (await queryRows<{ n: number }>(client, `SELECT count() AS n FROM erasure_targets WHERE erasure_id = ${str(erasureId)} AND kind = 'ready'`))[0]?.n !== 0;

/**
 * Step 1: writes what the erasure deletes to erasure_targets, then `ready`. Already ready: nothing. Interrupted
 * before `ready`, nothing was deleted yet, so the next run writes the same list again (rows read twice by an IN
 * count once).
 */
export async function collectTargets(client: ClickHouseClient, erasure: Pick<ErasureState, 'id' | 'kind' | 'value' | 'node'>): Promise<void> {
  if (await isReady(client, erasure.id)) return;
  const { person, own, shared } = await identifiersOf(client, erasure.node);
  const row = (kind: string, value: string, source = ''): TargetRow => ({ erasure_id: erasure.id, kind, source, value, day: '1970-01-01' });
  const ownUsers = own.filter((node) => node.startsWith('user:'));
  const ownDevices = own.filter((node) => node.startsWith('anon:'));
  await insertRows(client, 'erasure_targets', [
    row('person', person),
    // A server-side alias's `previous:` edge names a userId too (identifiers.ts).
    ...[...own, ...ownUsers.map((node) => previousEdgePrefix + node)].map((node) => row('node', node)),
    ...ownUsers.map((node) => row('user', node.slice(5))),
    ...ownDevices.map((node) => row('anon', node.slice(5))),
    // consent_refusals keys a refusal by the SHA-256 of the plain id and its kind (ingest/consent-refusal.ts).
    ...ownUsers.map((node) => row('refusal', sha256(node.slice(5)), 'user')),
    ...ownDevices.map((node) => row('refusal', sha256(node.slice(5)), 'anon')),
    ...quarantineNeedles(erasure, own).map((needle) => row('quarantine', needle)),
  ]);
  // The events attributed to the person, as person_events says (a shared device's before the other person took it),
  // by the events table's whole key: the same message id on another day or from another source is another event.
  await client.command({
    query: `INSERT INTO erasure_targets (erasure_id, kind, source, value, day)
            SELECT ${str(erasure.id)}, 'message', source, message_id, original_day FROM person_events WHERE person_id = ${str(person)}
            GROUP BY source, message_id, original_day`,
    clickhouse_settings: { wait_end_of_query: 1 },
  });
  // The graph's messages that are the person's, all of whose edges go (a shared device's too): their identifies and
  // aliases, and the context links of their userIds. identity_edges has no source nor day: the ids of the person's
  // other events (a track "1") would also name another person's identify that reuses them. Another person's message
  // that merely holds one of the person's identifiers (an identify giving this person's e-mail) loses that edge only.
  await client.command({
    query: `INSERT INTO erasure_targets (erasure_id, kind, source, value)
            SELECT ${str(erasure.id)}, 'edge_message', '', message_id FROM identity_edges
            WHERE message_id IN (SELECT message_id FROM person_events WHERE person_id = ${str(person)} AND type IN ('identify', 'alias'))
               OR (message_id LIKE ${str(`${linkMessagePrefix}%`)} AND node LIKE 'user:%' AND node IN ${targets(erasure.id, 'node')})
            GROUP BY message_id`,
    clickhouse_settings: { wait_end_of_query: 1 },
  });
  // What the next identity run re-resolves: the other nodes of every message that loses edges (a shared device,
  // another person's identify that gave this person's e-mail), so their persons are worked out without this one.
  const touched = `SELECT message_id FROM identity_edges WHERE node IN ${targets(erasure.id, 'node')} OR message_id IN ${targets(erasure.id, 'edge_message')}`;
  const others = await queryRows<{ node: string }>(client, `SELECT DISTINCT node FROM identity_edges WHERE message_id IN (${touched})`);
  const ownSet = new Set(own);
  const resolve = new Set([...shared, ...others.map((r) => r.node)].filter((node) => !ownSet.has(node.startsWith(previousEdgePrefix) ? node.slice(previousEdgePrefix.length) : node)));
  await insertRows(client, 'erasure_targets', [...[...resolve].map((node) => row('resolve', node)), row('ready', '')]);
}

/** One table's rows of the erasure: what is counted, then deleted. */
interface Deletion {
  table: string;
  where: string;
}

/** Where each table holds the person, read from the erasure's targets (quarantine needles as escaped literals). */
function deletions(erasureId: string, needles: readonly string[]): Deletion[] {
  const t = (kind: string, column?: string) => targets(erasureId, kind, column);
  const messages = t('message', 'source, value, day');
  const byNodeOrMessage = `node IN ${t('node')} OR (source, message_id, original_day) IN ${messages}`;
  const days = `node_key IN ${t('node', 'cityHash64(value)')} OR person_key IN ${t('person', 'cityHash64(value)')}`;
  const list: Deletion[] = [
    // A device's events count when they name no user: with another person's userId (logged in on it without an
    // identify there) they are that person's (person_events attributes by userId first).
    {
      table: 'events',
      where: `(source, message_id, toDate(original_timestamp)) IN ${messages} OR user_id IN ${t('user')} OR (user_id = '' AND anonymous_id IN ${t('anon')})`,
    },
    { table: 'identity_edges', where: `node IN ${t('node')} OR message_id IN ${t('edge_message')}` },
    // A shared device keeps the other person's periods; only this person's go (person_id).
    { table: 'identities', where: `identifier IN ${t('node')} OR person_id IN ${t('person')}` },
    { table: 'person_events_stored', where: byNodeOrMessage },
    { table: 'person_events_staging', where: byNodeOrMessage },
    { table: 'person_days_stored', where: days },
    { table: 'person_days_staging', where: days },
    { table: 'stale_nodes', where: `node IN ${t('node')}` },
    // A run killed between its checkpoint and its TRUNCATE leaves its nodes there until a later run has work: at
    // versions up to the checkpoint's, never read again (the erasure's own nodes to re-resolve come after this).
    { table: 'identity_run_nodes', where: `node IN ${t('node')}` },
    { table: 'segment_members', where: `person_id IN ${t('person')}` },
    { table: 'consent_refusals', where: `(id_hash, id_kind) IN ${t('refusal', 'value, source')}` },
  ];
  // 18.16 cannot search a column for the values of a subquery inside a mutation (a lambda over a scalar subquery
  // fails): the needles are read from the targets and written as literals.
  if (needles.length > 0) list.push({ table: 'events_quarantine', where: needles.map((needle) => `position(raw, ${str(needle)}) > 0`).join(' OR ') });
  return list;
}

async function countRows(client: ClickHouseClient, list: readonly Deletion[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const { table, where } of list) counts[table] = Number((await queryRows<{ n: number }>(client, `SELECT count() AS n FROM ${table} WHERE ${where}`))[0]?.n ?? 0);
  return counts;
}

export interface MutationWait {
  /** How long to wait for the DELETEs to finish before giving up until the next run (default 10 minutes). */
  timeoutMs?: number;
  /** Between two looks at system.mutations (default 200 ms). */
  pollMs?: number;
}

/**
 * Waits until no mutation of `tables` is left undone (system.mutations.is_done), or throws after the timeout: a
 * mutation that fails is retried by ClickHouse for ever and holds every later one of its table back (18.16 cannot
 * kill it), so the erasure stays `running` and is tried again by the next run, which logs the same error.
 */
export async function waitForMutations(client: ClickHouseClient, tables: readonly string[], options: MutationWait = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 600_000);
  const undone = `SELECT count() AS n FROM system.mutations WHERE database = currentDatabase() AND is_done = 0 AND table IN ${strList([...tables])}`;
  for (;;) {
    const [row] = await queryRows<{ n: number }>(client, undone);
    if (Number(row?.n ?? 0) === 0) return;
    if (Date.now() > deadline) throw new Error(`mutations of ${tables.join(', ')} not done after ${options.timeoutMs ?? 600_000} ms: see system.mutations`);
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 200));
  }
}

/** The tables with a DELETE of erasure `erasureId` not done yet (its where clause names the erasure's targets). */
async function mutationsUnderWay(client: ClickHouseClient, erasureId: string): Promise<Set<string>> {
  const rows = await queryRows<{ table: string }>(
    client,
    `SELECT DISTINCT table FROM system.mutations WHERE database = currentDatabase() AND is_done = 0 AND position(command, ${str(erasureId)}) > 0`,
  );
  return new Set(rows.map((row) => row.table));
}

const mutate = (client: ClickHouseClient, query: string) => client.command({ query, clickhouse_settings: { wait_end_of_query: 1 } });

/** Removes what a done erasure no longer needs: its earlier rows (with the plain identifier) and its targets. */
async function forgetIdentifier(client: ClickHouseClient, erasureId: string, wait: MutationWait): Promise<void> {
  await mutate(client, `ALTER TABLE erasures DELETE WHERE id = ${str(erasureId)} AND status != 'done'`);
  await mutate(client, `ALTER TABLE erasure_targets DELETE WHERE erasure_id = ${str(erasureId)}`);
  await waitForMutations(client, ['erasures', 'erasure_targets'], wait);
}

/** Steps 2 to 5 of one erasure: counts, DELETEs, the wait, the re-resolution of shared nodes, done. */
async function carryOut(client: ClickHouseClient, pending: ErasureState, wait: MutationWait): Promise<void> {
  let state = pending.status === 'pending' ? await writeState(client, { ...pending, status: 'running' }) : pending;
  await collectTargets(client, state);
  const needles = (await queryRows<{ value: string }>(client, `SELECT DISTINCT value FROM erasure_targets WHERE erasure_id = ${str(state.id)} AND kind = 'quarantine'`)).map((r) => r.value);
  const list = deletions(state.id, needles);
  // Counted once, before the first DELETE: a run after an interruption reports what the erasure deleted in all.
  if (state.deleted === undefined) state = await writeState(client, { ...state, deleted: await countRows(client, list) });
  // A DELETE of this erasure still under way is not issued again: on a big table it can outlast the wait, and each
  // attempt (every identity run) would queue one more rewrite of the whole table behind it, never catching up.
  const underWay = await mutationsUnderWay(client, state.id);
  for (const { table, where } of list) if (!underWay.has(table)) await mutate(client, `ALTER TABLE ${table} DELETE WHERE ${where}`);
  await waitForMutations(client, list.map((d) => d.table), wait);
  // A mutation covers the rows that existed when it was issued: an identity run since then may have written the
  // person again (from events not deleted yet) to a table whose DELETE was still under way, and a segment refresh
  // (its own lease, alongside) that read the person before their rows went may have stored them in segment_members
  // since. One more DELETE clears them; a refresh still reading then is the window left (docs). (events is written by
  // ingest only: what arrived since is "not deleted", see docs.)
  const writtenSince = (d: Deletion): boolean => (underWay.has(d.table) && d.table !== 'events') || d.table === 'segment_members';
  const left = await countRows(client, list.filter(writtenSince));
  const again = list.filter((d) => (left[d.table] ?? 0) > 0);
  for (const { table, where } of again) await mutate(client, `ALTER TABLE ${table} DELETE WHERE ${where}`);
  if (again.length > 0) await waitForMutations(client, again.map((d) => d.table), wait);
  // As an interrupted run's nodes (identity_run_nodes, migrations/031): above the last completed run's version, so
  // the next identity run re-resolves them. Written again by a repeated step: a node queued twice is resolved once.
  const { version } = await readCheckpoint(client, identityJob);
  await client.command({
    query: `INSERT INTO identity_run_nodes (version, node) SELECT ${int(version + 1)}, value FROM erasure_targets WHERE erasure_id = ${str(state.id)} AND kind = 'resolve'`,
    clickhouse_settings: { wait_end_of_query: 1 },
  });
  await writeState(client, { ...state, status: 'done', value: '', node: '', finishedAt: Date.now() }, sha256(state.node));
  await forgetIdentifier(client, state.id, wait);
}

export interface ErasureRunResult {
  /** Erasures completed by this run. */
  erased: number;
}

/**
 * Carries out every erasure not done yet, oldest first, and removes what done ones left behind (an interruption
 * between the done row and the cleanup). Call with the identity job's lease held, right after an identity run.
 */
export async function processErasures(client: ClickHouseClient, wait: MutationWait = {}): Promise<ErasureRunResult> {
  const states = (await queryRows<StateRow>(client, `SELECT ${stateColumns} FROM erasures GROUP BY id ORDER BY e_requested, id`)).map(toState);
  let erased = 0;
  for (const state of states) {
    if (state.status !== 'done') {
      await carryOut(client, state, wait);
      erased += 1;
    }
  }
  const leftovers = await queryRows<{ id: string }>(
    client,
    `SELECT DISTINCT erasure_id AS id FROM erasure_targets WHERE erasure_id IN (SELECT id FROM erasures WHERE status = 'done')
     UNION ALL SELECT DISTINCT id FROM erasures WHERE status != 'done' AND id IN (SELECT id FROM erasures WHERE status = 'done')`,
  );
  for (const id of new Set(leftovers.map((r) => r.id))) await forgetIdentifier(client, id, wait);
  return { erased };
}
