// Saved segments and their materialisation into segment_members (SQL compiled by query/).
import { randomBytes } from 'node:crypto';
import { queryRows, type ClickHouseClient } from './client';
import type { JobLogger } from './jobs';
import { toDateTimeText, wellFormed } from '../ingest/normalize';
import { builtinSegments, type BuiltinOptions, type SegmentDefinition } from '../query/builtin-segments';
import { consentStatusSql, keptStatuses, marketingDecisionSql, type ConsentFilter, type ExportRow } from '../query/export';
import { dt, int, str, strList } from '../query/literal';
import { formatMembersCursor } from '../query/members-cursor';
import { formatRunId, type RunRef } from '../query/run-id';
import { compileSegmentRule, parseSegmentRule } from '../query/segment-rules';
import { querySizeSettings } from '../query/size';

export interface SegmentRun {
  run: number;
  computedAt: string;
  members: number;
  entered: number;
  left: number;
}

export interface SegmentSummary extends SegmentDefinition {
  lastRun: SegmentRun | undefined;
}

export type { ExportRow };

/** What a segment's export leaves out, known before its first row (for the response's headers). */
export interface ContactCounts {
  /** Members with at least one e-mail or phone. */
  withContacts: number;
  /** Of those, left out for consent: their latest marketing consent denies, or (consent=required) does not grant. */
  leftOutForConsent: number;
  /** Of those, whose consent never said anything about marketing (kept unless consent=required). */
  undecided: number;
}

/**
 * A segment's export: its counts, then the rows, read from ClickHouse as they are consumed. Both come from one
 * query, which contactExport starts and reads the counts from; stopping the iteration early (or the export's abort
 * signal) ends it.
 */
export interface ContactExport extends ContactCounts {
  rows: AsyncIterable<ExportRow>;
}

/** How contactExport's query is followed: `onRowsClosed` hears when it is over, `signal` abandons it. */
export interface ExportOptions {
  onRowsClosed?: () => void;
  signal?: AbortSignal;
}

/** The run a members page was read from: its number, when it was computed, and the id that pages it again. */
export interface MembersRun {
  run: number;
  runId: string;
  computedAt: string;
}

/**
 * One page of a run's members, in person_id order; no run before the segment's first materialisation. `next` is
 * the cursor of the page after it (members-cursor.ts), undefined when no member follows.
 */
export interface MembersPage {
  run: MembersRun | undefined;
  total: number;
  members: string[];
  next: string | undefined;
}

/**
 * Where a page starts in its run's person_id order: `offset` members in (that many are read and skipped; 18.16
 * sorts the whole run first), or at member `from` of a cursor, included (a range of the table's key, segment_id,
 * run, person_id: read from the index whatever the page's place in the run).
 */
export type PageStart = { offset: number } | { from: string };

/**
 * A page, or why the run asked for cannot be paged: `run_gone` once two newer runs are computed (materialize then
 * deletes its members), `unknown_run` when the segment never had it.
 */
export type MembersRead = { page: MembersPage } | { refused: 'run_gone' | 'unknown_run' };

/** A saved segment as found by id: usable, or stored with a rule that no longer validates. */
export type SegmentLookup = { segment: SegmentDefinition } | { invalid: InvalidSegment };

const rows = queryRows;

/** The rows of one materialisation run of segment `id` (segment_members, segment_runs): its number and its token. */
const runWhere = (id: string, ref: RunRef): string => `segment_id = ${str(id)} AND run = ${int(ref.run)} AND run_token = ${str(ref.token)}`;

/**
 * The person_ids of a page of the run `of` selects, and one more: the first member of the next page, whose
 * presence says there is one, and which its cursor starts from (with `>=`, so a page of limit 0 has a next too).
 */
function pageSql(of: string, limit: number, start: PageStart): string {
  const select = `SELECT person_id FROM segment_members WHERE ${of}`;
  const rest = `ORDER BY person_id LIMIT ${int(limit + 1)}`;
  return 'from' in start ? `${select} AND person_id >= ${str(start.from)} ${rest}` : `${select} ${rest} OFFSET ${int(start.offset)}`;
}

/** A segment's newest run as readers pick it: its summary, and the token its member rows carry. */
interface LastRun {
  summary: SegmentRun;
  token: string;
}

/** What one materializeAll did: the segments refreshed and those that failed (each logged). */
export interface RefreshOutcome {
  refreshed: string[];
  failed: string[];
}

/** A stored segment whose rule no longer validates: listed apart so that it can be seen and deleted. */
export interface InvalidSegment {
  id: string;
  name: string;
  problem: string;
}

/** What delete did: a built-in cannot be deleted (it is defined in code), an unknown id was not found. */
export type Removal = 'deleted' | 'builtin' | 'unknown';

interface StoredSegment {
  id: string;
  name: string;
  rule: string;
  createdAt: string;
  version: number;
}

/** A stored segment as a definition; throws if its rule no longer validates (saved before a validation fix). */
function definition(stored: StoredSegment): SegmentDefinition {
  return { id: stored.id, name: stored.name, rule: parseSegmentRule(JSON.parse(stored.rule)), builtin: false };
}

type StoredRead = { definition: SegmentDefinition } | { problem: string };

/** A stored segment as a definition, or why its rule no longer validates: one parse (which compiles the rule). */
function readStored(stored: StoredSegment): StoredRead {
  try {
    return { definition: definition(stored) };
  } catch (error) {
    return { problem: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * The rows of identities_current (the newest version of each identifier) whose person is one of `members`,
 * without identities_current's pairing of every identifier with its newest version: that GROUP BY over all
 * identifiers and the IN over all their (identifier, version) pairs took 3 s and 660 MiB of an export's 8 s and
 * 1.3 GiB (2.2M identities, 18.16). Most identifiers have one version only; the others (a shared device
 * re-resolved) are found by grouping the identifiers by a 64-bit hash: the rows of a bucket whose versions all
 * agree are current as they are. A bucket with more than one version (a re-resolved identifier, or two
 * identifiers of one hash) is paired exactly, by identifier, so a hash collision costs time, never a row: the
 * same rows as identities_current, in 1.0 s and 270 MiB.
 */
function currentIdentitiesSql(members: string): string {
  const mixed = 'SELECT cityHash64(identifier) AS identifier_hash FROM identities GROUP BY identifier_hash HAVING min(version) != max(version)';
  // The members' rows first, then their versions: with both conditions in one WHERE, 18.16 took 5.6 s instead of 1.0 s.
  return `SELECT person_id, identifier, valid_from
          FROM (SELECT person_id, identifier, valid_from, version FROM identities WHERE person_id IN (${members}))
          WHERE cityHash64(identifier) NOT IN (${mixed})
             OR (identifier, version) IN (SELECT identifier, max(version) FROM identities WHERE cityHash64(identifier) IN (${mixed}) GROUP BY identifier)`;
}

/**
 * Each member of `members` (a SELECT of person_id) who has an e-mail or a phone in the identity graph: the
 * hashes, and `consent_status`, what their latest marketing consent says (consentStatusSql). That consent is
 * the newest stored consent, in event order as profiles reads it, among those that grant or deny marketing:
 * a later event whose consent says nothing about it (analytics only) does not lift a refusal.
 *
 * A refusal recorded in consent_refusals (its event lost its ids: migrations/041_consent_refusals.sql) makes the
 * member `denied` when its day is on or after the day of that latest decision, or when there is no decision:
 * refusals keep no time of day, so a tie goes to the refusal. A decision's day is that of its event time, but
 * never after the day it was received (as a refusal's is): a client clock running fast (the collector takes
 * timestamps up to a day ahead when no sentAt corrects them) must not date a grant after a refusal received
 * later. A refusal counts when it names one of the member's `user:` nodes, or an `anon:` node (a device) the
 * member was using by that day: a device shared with someone who came later does not pass that person's
 * refusals back. The nodes are hashed in the same scan of the members' current identities (currentIdentitiesSql)
 * that gathers the e-mails and phones (one pass), and joined with consent_refusals held in memory, the latest day
 * per id, keyed by a 64-bit hash of the id's hash and kind: a number per refusing id, which ClickHouse joins
 * faster than the two strings (a million refusals, 126k members, 18.16: +0.4 s a query instead of +1.3 s). Two
 * ids with one key would leave out a member who did not refuse: about one chance in 10^7 with a million refusals
 * and a million members' nodes.
 */
function contactsSql(members: string, consent: ConsentFilter): string {
  const decision = marketingDecisionSql('lower(consent)', consent.marketingIds);
  return `SELECT person_id, emails, phones, phone_digits,
           if(refused = 1 AND refused_on >= decided_on, 'denied', ${consentStatusSql('marketing_consent', consent.marketingIds)}) AS consent_status
    FROM
    (
        SELECT person_id,
               arraySort(groupUniqArrayIf(substring(identifier, 7), substring(identifier, 1, 6) = 'email:')) AS emails,
               arraySort(groupUniqArrayIf(substring(identifier, 7), substring(identifier, 1, 6) = 'phone:')) AS phones,
               arraySort(groupUniqArrayIf(substring(identifier, 14), substring(identifier, 1, 13) = 'phone_digits:')) AS phone_digits,
               max(refusal_counts) AS refused,
               maxIf(refusal_day, refusal_counts = 1) AS refused_on
        FROM
        (
            SELECT person_id, identifier, refusal_day,
                   refusal_found = 1 AND (substring(identifier, 1, 5) = 'user:' OR toDate(valid_from, 'UTC') <= refusal_day) AS refusal_counts
            FROM
            (
                SELECT person_id, identifier, valid_from,
                       if(substring(identifier, 1, 5) IN ('user:', 'anon:'),
                          cityHash64(lower(hex(SHA256(substring(identifier, 6)))), substring(identifier, 1, 4)), 0) AS id_key
                FROM (${currentIdentitiesSql(members)})
            )
            ANY LEFT JOIN
            (
                SELECT cityHash64(id_hash, id_kind) AS id_key, max(refused_on) AS refusal_day, toUInt8(1) AS refusal_found
                FROM consent_refusals
                GROUP BY id_key
            ) USING id_key
        )
        GROUP BY person_id
        HAVING notEmpty(emails) OR notEmpty(phones)
    )
    ANY LEFT JOIN
    (
        SELECT person_id,
               argMaxIf(lower(consent), timestamp_ms * 65536 + batch_position, ${decision}) AS marketing_consent,
               toDate(argMaxIf(least(timestamp, received_at), timestamp_ms * 65536 + batch_position, ${decision}), 'UTC') AS decided_on
        FROM person_events
        WHERE person_id IN (${members}) AND consent NOT IN ('', '{}')
        GROUP BY person_id
    ) USING person_id`;
}

/** The consent statuses an export keeps under `consent`, as an SQL list. */
const keptSql = (consent: ConsentFilter): string => strList(keptStatuses(consent.requirement));

/** The counts of contactsSql's members (see ContactCounts): those it gives, and how consent sorted them. */
function countsColumns(consent: ConsentFilter): string {
  const kept = keptSql(consent);
  return `count() AS with_contacts, countIf(consent_status NOT IN ${kept}) AS left_out, countIf(consent_status = 'undecided') AS undecided_n`;
}

/**
 * An export in one pass of contactsSql: the members the consent filter keeps, in person_id order, each carrying
 * the counts (the same on every row). The two queries this replaces, counts then rows, each computed the whole
 * join (8 s each for 507k members of 2.2M identities on 18.16). The kept members are gathered into one array next
 * to the counts, then unrolled: a row per member, or (LEFT ARRAY JOIN) one row of empty values carrying the
 * counts when none is kept.
 */
function exportSql(contacts: string, consent: ConsentFilter): string {
  return `SELECT person_id, emails, phones, phone_digits, with_contacts, left_out, undecided_n
    FROM
    (
        SELECT with_contacts, left_out, undecided_n,
               member.1 AS person_id, member.2 AS emails, member.3 AS phones, member.4 AS phone_digits
        FROM
        (
            SELECT ${countsColumns(consent)},
                   groupArrayIf((person_id, emails, phones, phone_digits), consent_status IN ${keptSql(consent)}) AS kept_members
            FROM (${contacts})
        )
        LEFT ARRAY JOIN kept_members AS member
    )
    ORDER BY person_id`;
}

/** A row of exportSql: a member (or the filler row when none is kept) and the counts, 64-bit as JSON strings. */
interface ExportSqlRow extends ExportRow {
  with_contacts: number | string;
  left_out: number | string;
  undecided_n: number | string;
}

type CountsRow = Pick<ExportSqlRow, 'with_contacts' | 'left_out' | 'undecided_n'>;

const countsOf = (row: CountsRow | undefined): ContactCounts => ({
  withContacts: Number(row?.with_contacts ?? 0),
  leftOutForConsent: Number(row?.left_out ?? 0),
  undecided: Number(row?.undecided_n ?? 0),
});

/** The members of exportSql's rows, from its first row (already read) on: none when the counts say none is kept. */
async function* membersOf(first: ExportSqlRow, rest: AsyncIterator<ExportSqlRow>, kept: number): AsyncGenerator<ExportRow> {
  try {
    if (kept === 0) return;
    const member = (row: ExportSqlRow): ExportRow => ({ person_id: row.person_id, emails: row.emails, phones: row.phones, phone_digits: row.phone_digits });
    yield member(first);
    for (let next = await rest.next(); !next.done; next = await rest.next()) yield member(next.value);
  } finally {
    await rest.return?.();
  }
}

/**
 * The rows of a query as they arrive, without holding the result: JSONEachRow streamed, each row parsed as it
 * comes. 18.16 reports an error after the first byte as a last line of text (not JSON), which fails the
 * iteration (the caller's answer is then cut short) rather than ending it as if complete. Stopping the
 * iteration early closes the response, which ends the query; so does `signal`, at any time: before the query
 * (it is not sent), while its answer is awaited, or once it streams, whether rows are being read or not. `onClosed`
 * hears once ClickHouse's answer is over: read to its end, refused, or abandoned (the iteration stopped, `signal`
 * fired, or the client's HTTP timeout gave up on it while the reader asked for no more rows).
 */
async function* streamRows<T>(client: ClickHouseClient, query: string, onClosed: () => void = () => undefined, signal?: AbortSignal): AsyncGenerator<T> {
  let opened;
  try {
    // The client library misses an abort that came before the query (and follows one only until the answer starts).
    signal?.throwIfAborted();
    opened = (await client.query({ query, format: 'JSONEachRow', ...(signal ? { abort_signal: signal } : {}) })).stream<T>();
  } catch (error) {
    onClosed();
    throw error;
  }
  const stream = opened;
  stream.once('close', onClosed);
  // From the answer's start, an abort closes it here: also while nobody asks for rows (a body never read).
  const abandon = () => void stream.destroy();
  signal?.addEventListener('abort', abandon, { once: true });
  try {
    for await (const batch of stream) {
      for (const row of batch) {
        if (row.text.startsWith('Code: ')) throw new Error(`ClickHouse failed during the export: ${row.text.slice(0, 500)}`);
        yield row.json<T>();
      }
    }
  } finally {
    signal?.removeEventListener('abort', abandon);
    stream.destroy();
  }
}

/** Segment store and materialiser over one database. */
export function segmentStore(client: ClickHouseClient, builtinOptions: BuiltinOptions = {}) {
  const builtins = builtinSegments(builtinOptions);
  // Parsing a rule compiles it, which for a large rule takes long enough to stall the event loop: each stored
  // version is parsed once. A new version (a delete, a future update) has another key; entries of versions no
  // longer stored are dropped when the whole list is read.
  const reads = new Map<string, { version: number; read: StoredRead }>();
  const cachedRead = (stored: StoredSegment): StoredRead => {
    const cached = reads.get(stored.id);
    if (cached?.version === stored.version) return cached.read;
    const read = readStored(stored);
    reads.set(stored.id, { version: stored.version, read });
    return read;
  };
  /** Every stored segment with its read, the cache trimmed to them. */
  const readAll = async (): Promise<Array<{ stored: StoredSegment; read: StoredRead }>> => {
    const all = (await stored()).map((s) => ({ stored: s, read: cachedRead(s) }));
    const current = new Set(all.map((s) => s.stored.id));
    for (const id of reads.keys()) if (!current.has(id)) reads.delete(id);
    return all;
  };

  /** The newest version of each saved segment (or of `id` only) that is not deleted, valid or not. */
  async function stored(id?: string): Promise<StoredSegment[]> {
    const where = id === undefined ? '' : `WHERE segment_id = ${str(id)}`;
    const found = await rows<{ segment_id: string; seg_name: string; seg_rule: string; seg_created: string; seg_version: number }>(
      client,
      `SELECT segment_id, argMax(name, version) AS seg_name, argMax(rule, version) AS seg_rule,
              argMax(created_at, version) AS seg_created, max(version) AS seg_version, argMax(deleted, version) AS seg_deleted
       FROM segments ${where} GROUP BY segment_id HAVING seg_deleted = 0 ORDER BY segment_id`,
    );
    return found.map((r) => ({ id: r.segment_id, name: r.seg_name, rule: r.seg_rule, createdAt: r.seg_created, version: r.seg_version }));
  }

  /** The saved segments whose rule still validates; materializeAll reports the others on every run. */
  async function saved(): Promise<SegmentDefinition[]> {
    return (await readAll()).flatMap(({ read }) => ('definition' in read ? [read.definition] : []));
  }

  /** True once the newest version of saved segment `id` marks it deleted. */
  async function isDeleted(id: string): Promise<boolean> {
    const [found] = await rows<{ gone: number }>(client, `SELECT argMax(deleted, version) AS gone FROM segments WHERE segment_id = ${str(id)}`);
    return found?.gone === 1;
  }

  /** Removes a segment's runs and members (mutations, applied in the background). */
  async function forgetRuns(id: string): Promise<void> {
    await client.command({ query: `ALTER TABLE segment_members DELETE WHERE segment_id = ${str(id)}` });
    await client.command({ query: `ALTER TABLE segment_runs DELETE WHERE segment_id = ${str(id)}` });
  }

  /** Each segment's newest run, as every reader picks it (segment_last_runs): its summary and its token. */
  async function lastRuns(): Promise<Map<string, LastRun>> {
    const found = await rows<{ segment_id: string; last_run: number; last_token: string; at: string; n: number; entered: number; gone: number }>(
      client,
      `SELECT segment_id, run AS last_run, run_token AS last_token, computed_at AS at, members AS n,
              entered_count AS entered, left_count AS gone
       FROM segment_last_runs`,
    );
    return new Map(
      found.map((r) => [r.segment_id, { token: r.last_token, summary: { run: Number(r.last_run), computedAt: r.at, members: r.n, entered: r.entered, left: r.gone } }]),
    );
  }

  /** The run readers take as segment `id`'s newest (segment_last_runs), or undefined before its first run. */
  async function newestRun(id: string): Promise<RunRef | undefined> {
    const [last] = await rows<{ last_run: number; last_token: string }>(
      client,
      `SELECT run AS last_run, run_token AS last_token FROM segment_last_runs WHERE segment_id = ${str(id)}`,
    );
    return last ? { run: Number(last.last_run), token: last.last_token } : undefined;
  }

  /** contactsSql over the members of segment `id`'s newest run, which an export and its HEAD read; none before a first run. */
  async function newestContacts(id: string, consent: ConsentFilter): Promise<string | undefined> {
    const last = await newestRun(id);
    return last && contactsSql(`SELECT person_id FROM segment_members WHERE ${runWhere(id, last)}`, consent);
  }

  /**
   * Whether run `ref` of segment `id` is still kept, with when it was computed and its member count as
   * materialize recorded it (the count of its rows, taken once they were all written); undefined when segment_runs
   * has no such run. Kept: its number is one of the segment's two highest. Every deletion materialize issues is of
   * the runs numbered below its previous run, and it issues it after writing its own, higher-numbered row, so
   * runs of the two highest numbers (overlapping runs that share one included) are never among those deleted.
   */
  async function runKept(id: string, ref: RunRef): Promise<{ at: string; kept: number; n: number } | undefined> {
    const segment = `segment_id = ${str(id)}`;
    const [found] = await rows<{ at: string; kept: number; n: number }>(
      client,
      `SELECT computed_at AS at, members AS n,
              run >= (SELECT min(run) FROM (SELECT run FROM segment_runs WHERE ${segment} GROUP BY run ORDER BY run DESC LIMIT 2)) AS kept
       FROM segment_runs
       WHERE ${runWhere(id, ref)}
       LIMIT 1`,
    );
    return found;
  }

  /**
   * A page of one run's members: the run `asked` (a runId or a cursor a client passed back), else the newest. Paging one
   * run, a client sees each member once though refreshes replace the newest run in between. A run is kept while
   * it is the newest or the one before (materialize deletes the runs before its previous one): see runKept. The
   * deletion is a mutation that runs later, and a run only loses its place once a newer run's row is in
   * segment_runs, which materialize writes before it deletes; so the check comes after the reads: still kept
   * then, no deletion of its rows had been issued when they were read, and the page is whole.
   */
  async function readMembers(id: string, limit: number, start: PageStart, asked?: RunRef): Promise<MembersRead> {
    // Without a run asked for, the newest is read; replaced by two newer runs during the reads, the new newest.
    for (let attempt = 1; ; attempt++) {
      const ref = asked ?? (await newestRun(id));
      if (!ref) return { page: { run: undefined, total: 0, members: [], next: undefined } };
      const found = await rows<{ person_id: string }>(client, pageSql(runWhere(id, ref), limit, start));
      const state = await runKept(id, ref);
      if (state?.kept === 1) {
        const run = { run: ref.run, runId: formatRunId(ref), computedAt: state.at };
        const members = found.slice(0, limit).map((r) => r.person_id);
        const following = found[limit]?.person_id;
        const next = following === undefined ? undefined : formatMembersCursor({ run: ref, from: following });
        // The total is the run's recorded count: counting its rows read the whole run on every page (0.2 s of a
        // cursor page's 0.3 s at 10M members), and a kept run's rows do not change.
        return { page: { run, total: state.n, members, next } };
      }
      if (asked) return { refused: state ? 'run_gone' : 'unknown_run' };
      if (attempt === 3) throw new Error(`segment ${id}: its newest run was replaced by two newer ones while being read, three times over`);
    }
  }

  const store = {
    builtins,

    /**
     * Saves a segment; the rule must already be parsed (parseSegmentRule). Lone surrogates in the name become
     * U+FFFD, as on the ingest path (ClickHouse refuses their JSON escapes); the rule is JSON text, escaped twice.
     */
    async create(rawName: string, rule: SegmentDefinition['rule']): Promise<SegmentDefinition> {
      const id = `seg_${randomBytes(8).toString('hex')}`;
      const name = wellFormed(rawName);
      const now = Date.now();
      await client.insert({
        table: 'segments',
        values: [{ segment_id: id, name, rule: JSON.stringify(rule), created_at: toDateTimeText(now), version: now, deleted: 0 }],
        format: 'JSONEachRow',
      });
      return { id, name, rule, builtin: false };
    },

    async list(): Promise<SegmentSummary[]> {
      const [mine, runs] = await Promise.all([saved(), lastRuns()]);
      return [...builtins, ...mine].map((s) => ({ ...s, lastRun: runs.get(s.id)?.summary }));
    },

    /** Stored segments whose rule no longer validates: list() leaves them out, materializeAll logs them. */
    async invalid(): Promise<InvalidSegment[]> {
      return (await readAll()).flatMap(({ stored: s, read }) => ('problem' in read ? [{ id: s.id, name: s.name, problem: read.problem }] : []));
    },

    /** Segment `id`: a built-in, or the one stored segment read and parsed (not the others); undefined when unknown or deleted. */
    async lookup(id: string): Promise<SegmentLookup | undefined> {
      const builtin = builtins.find((s) => s.id === id);
      if (builtin) return { segment: builtin };
      const [found] = await stored(id);
      if (!found) return undefined;
      const read = cachedRead(found);
      return 'definition' in read ? { segment: read.definition } : { invalid: { id: found.id, name: found.name, problem: read.problem } };
    },

    async get(id: string): Promise<SegmentDefinition | undefined> {
      const found = await store.lookup(id);
      return found && 'segment' in found ? found.segment : undefined;
    },

    /**
     * Deletes a saved segment, valid or not: a new version marks it deleted (so every reader and the scheduled
     * refresh skip it), then its runs and members are removed in the background.
     */
    async remove(id: string): Promise<Removal> {
      if (builtins.some((s) => s.id === id)) return 'builtin';
      const [current] = await stored(id);
      if (!current) return 'unknown';
      await client.insert({
        table: 'segments',
        values: [
          {
            segment_id: current.id,
            name: current.name,
            rule: current.rule,
            created_at: current.createdAt,
            // Above the current version even within the same millisecond, so that argMax picks this row.
            version: Math.max(Date.now(), current.version + 1),
            deleted: 1,
          },
        ],
        format: 'JSONEachRow',
      });
      await forgetRuns(id);
      return 'deleted';
    },

    /**
     * Computes the members now (or at `asOfMs`), records the run with entered/left counts. Runs of one segment may
     * overlap (the scheduled refresh and the API, on one collector or several) and pick the same run number: each
     * has its own token, its rows are told apart by it, and readers take one of them (segment_last_runs).
     */
    async materialize(segment: SegmentDefinition, asOfMs = Date.now()): Promise<SegmentRun> {
      const id = str(segment.id);
      const previous = (await lastRuns()).get(segment.id);
      const now = Date.now();
      // Increasing with time, as readers take the highest; after a run stamped by a clock ahead of ours, right after it.
      const run = Math.max(now, (previous?.summary.run ?? 0) + 1);
      const token = randomBytes(8).toString('hex');
      const computedAt = toDateTimeText(now);
      await client.command({
        query: `INSERT INTO segment_members (segment_id, run, run_token, person_id, computed_at)
                SELECT ${id}, ${int(run)}, ${str(token)}, person_id, ${dt(now)} FROM (${compileSegmentRule(segment.rule, asOfMs)})`,
        // parseSegmentRule keeps a rule's SQL within this size, beyond what ClickHouse parses by default.
        clickhouse_settings: { wait_end_of_query: 1, ...querySizeSettings },
      });
      /** The rows of one materialisation: its run number and its token (none before the first run: no rows). */
      const mine = runWhere(segment.id, { run, token });
      const before = runWhere(segment.id, { run: previous?.summary.run ?? 0, token: previous?.token ?? '' });
      const [counts] = await rows<{ n: number; entered: number; gone: number }>(
        client,
        `SELECT
           (SELECT count() FROM segment_members WHERE ${mine}) AS n,
           (SELECT count() FROM segment_members WHERE ${mine} AND person_id NOT IN (SELECT person_id FROM segment_members WHERE ${before})) AS entered,
           (SELECT count() FROM segment_members WHERE ${before} AND person_id NOT IN (SELECT person_id FROM segment_members WHERE ${mine})) AS gone`,
      );
      const result: SegmentRun = { run, computedAt, members: counts?.n ?? 0, entered: counts?.entered ?? 0, left: counts?.gone ?? 0 };
      await client.insert({
        table: 'segment_runs',
        values: [
          { segment_id: segment.id, run, run_token: token, computed_at: computedAt, members: result.members, entered_count: result.entered, left_count: result.left },
        ],
        format: 'JSONEachRow',
      });
      // Runs before the previous one are no longer needed (the mutation runs in the background).
      if (previous) await client.command({ query: `ALTER TABLE segment_members DELETE WHERE segment_id = ${id} AND run < ${int(previous.summary.run)}` });
      // A delete during this run missed the rows written after it: a mutation only covers the parts that exist
      // when it is issued. The deletion is stored before its mutations, so checking after writing closes the gap.
      if (!segment.builtin && (await isDeleted(segment.id))) await forgetRuns(segment.id);
      return result;
    },

    /**
     * Refreshes every built-in and saved segment (the scheduled job). A segment that fails (ClickHouse refuses
     * its query, or its stored rule no longer validates) is logged and skipped, so it cannot starve the others.
     */
    async materializeAll(log: JobLogger, asOfMs = Date.now()): Promise<RefreshOutcome> {
      const outcome: RefreshOutcome = { refreshed: [], failed: [] };
      const all: Array<{ id: string; load: () => SegmentDefinition }> = [
        ...builtins.map((segment) => ({ id: segment.id, load: () => segment })),
        ...(await readAll()).map(({ stored: segment, read }) => ({
          id: segment.id,
          load: () => {
            if ('problem' in read) throw new Error(read.problem);
            return read.definition;
          },
        })),
      ];
      for (const { id, load } of all) {
        try {
          await store.materialize(load(), asOfMs);
          outcome.refreshed.push(id);
        } catch (error) {
          log.error({ err: error, segmentId: id }, `segment ${id} could not be refreshed`);
          outcome.failed.push(id);
        }
      }
      return outcome;
    },

    /**
     * A page of the newest run's members, naming the run (pass its runId to runMembers for the next pages, or
     * the page's `next` cursor, parsed, with its run and `from`).
     */
    async members(id: string, limit: number, offset: number): Promise<MembersPage> {
      const read = await readMembers(id, limit, { offset });
      if ('refused' in read) throw new Error(`segment ${id}: the newest run cannot be refused (${read.refused})`);
      return read.page;
    },

    /** A page of run `run` of segment `id`, from an offset or a cursor's member, or why it cannot be read (see readMembers). */
    async runMembers(id: string, run: RunRef, limit: number, start: PageStart): Promise<MembersRead> {
      return readMembers(id, limit, start, run);
    },

    /**
     * What an export of segment `id` would leave out (its headers), without its rows: a HEAD's answer. One query,
     * over the run the export would read.
     */
    async contactCounts(id: string, consent: ConsentFilter): Promise<ContactCounts> {
      const contacts = await newestContacts(id, consent);
      if (contacts === undefined) return countsOf(undefined);
      const [counts] = await rows<CountsRow>(client, `SELECT ${countsColumns(consent)} FROM (${contacts})`);
      return countsOf(counts);
    },

    /**
     * Hashed e-mails and phones (SHA-256) of the current members who have any, per person in person_id order,
     * without those the consent filter leaves out (see contactsSql), with the counts of who was left out. One query
     * (exportSql) gives both, so the counts describe the file exactly; it starts here, and its first row, which
     * carries the counts, is read before this returns: a query ClickHouse refuses or stops before that (the time
     * limit) fails this call. The rest is read as `rows` are consumed. `onRowsClosed` hears when the query is over
     * (see streamRows): read to its end, failed, `rows` stopped early, or `signal` aborted (the client went away,
     * also before `rows` were first read).
     */
    async contactExport(id: string, consent: ConsentFilter, options: ExportOptions = {}): Promise<ContactExport> {
      const contacts = await newestContacts(id, consent);
      if (contacts === undefined) return { ...countsOf(undefined), rows: (async function* () {})() };
      const answer = streamRows<ExportSqlRow>(client, exportSql(contacts, consent), options.onRowsClosed, options.signal);
      let first: IteratorResult<ExportSqlRow>;
      try {
        first = await answer.next();
      } catch (error) {
        await answer.return(undefined);
        throw error;
      }
      if (first.done) throw new Error(`segment ${id}: ClickHouse answered the export without its counts row`);
      const counts = countsOf(first.value);
      return { ...counts, rows: membersOf(first.value, answer, counts.withContacts - counts.leftOutForConsent) };
    },
  };
  return store;
}

export type SegmentStore = ReturnType<typeof segmentStore>;
