// The incremental identity job: new identify/alias events, and new userId ↔ e-mail/phone links of other events'
// context.traits (contextLinks) → identity_edges → re-resolution of only the graph components they touch →
// identities of the identifiers whose periods changed (mappings.ts; those whose person changed marked stale
// first) → person_events_stored brought up to date (person-events.ts). Safe to run again; a run interrupted
// anywhere is completed by the next one (identity_run_nodes, see docs/analytics.md).
import { readCheckpoint, writeCheckpoint } from '../checkpoints';
import { insertRows, queryRows, type ClickHouseClient } from '../client';
import { linkMessagePrefix } from '../../ingest/event';
import { toDateTimeText } from '../../ingest/normalize';
import { dt, int, str, strList } from '../../query/literal';
import { crawlerDelivery } from '../job-sql';
import { blockedIdSet, type BlockedIds } from '../../ingest/placeholder-ids';
import { blockedNodes, eventNodes, previousEdgePrefix, sha256 } from './identifiers';
import { mappingChanges } from './mappings';
import { appendPersonEvents, markStaleNodes, type PersonEventsOptions } from './person-events';
import { byTimeThenId, resolveIdentities, type IdentityMessage } from './resolve';

export const identityJob = 'identity';

export interface IdentityJobOptions {
  /**
   * How far behind the checkpoint to look again, in seconds: events are picked by `received_at`, and an
   * event may land in ClickHouse after a newer one (retries, a spool replaying). Already-processed events in
   * the window are skipped, so a wide window costs a scan, not work. Default one day.
   */
  overlapSeconds?: number;
  /** Above this many frontier nodes the component is loaded whole instead of node by node (default 20,000). */
  expandLimit?: number;
  /** When the squash of stale identifiers runs (see person-events.ts). */
  squashAfterNodes?: PersonEventsOptions['squashAfterNodes'];
  squashAfterSeconds?: PersonEventsOptions['squashAfterSeconds'];
  /** The config's blockedIds: ids, e-mails and phones that make no node (as ingest, see ingest/placeholder-ids.ts). */
  blockedIds?: readonly string[];
}

export interface IdentityJobResult {
  /** identify/alias events read for the first time. */
  events: number;
  /**
   * Links between a userId and the e-mail/phone of other events' `context.traits` (events.context_identity) that no
   * message of identity_edges held yet, each stored as one message however many events carry it.
   */
  links: number;
  /** Identifiers whose mapping was written: new to identities, or periods that changed (see mappings.ts). */
  identifiers: number;
  /** Identifiers whose person changed (marked stale). */
  staleIdentifiers: number;
  /** Events appended to person_events_stored. */
  personEvents: number;
  /** person_events_stored buckets rewritten (squash, superseded deliveries). */
  rewrittenBuckets: number;
}

const rows = queryRows;

// Aliases never reuse a column name: 18.16 substitutes aliases into other expressions of the query.
interface EventFacts {
  message_id: string;
  t_type: string;
  t_anon: string;
  t_user: string;
  t_previous: string;
  t_traits: string;
  ts: number;
  last_received: string;
}

/** One userId and context_identity pair of the window's events (see contextLinks). */
interface LinkFacts {
  c_user: string;
  c_identity: string;
  ts: number;
  last_received: string;
}

/** The nodes of a message that may hold a context link, and its place in the resolver's order (see contextLinks). */
interface HeldMessage {
  nodes: Set<string>;
  time: number;
  messageId: string;
}

/** A message to store in identity_edges: its nodes, event time (epoch seconds) and newest delivery. */
interface NewMessage {
  messageId: string;
  nodes: string[];
  ts: number;
  lastReceived: string;
}

export interface EdgeRow {
  message_id: string;
  node: string;
  ts: number;
  /** The newest delivery that wrote the edge (its received_at, epoch seconds). */
  received: number;
}

/**
 * A message's event time: an identify/alias's newest delivery's; a context link's earliest, since each run that finds
 * a link stores it again with the earliest event of its window, and rule 1 gives an e-mail to the user that claimed
 * it first, so a late-delivered older event must move the claim back, never a newer one forward.
 */
const edgeTime = `toUInt32(if(message_id LIKE ${str(`${linkMessagePrefix}%`)}, min(timestamp), argMax(timestamp, received_at)))`;
const edgeColumns = `message_id, node, ${edgeTime} AS ts, toUInt32(max(received_at)) AS received`;

/** A message's time so far, with the received_at it was read from. */
interface Timed {
  ts: number;
  received: number;
}

/**
 * A message's time from its edges' (one per node): they agree unless a redelivery changed both its nodes and its
 * timestamp. Then a link's is its earliest (as edgeTime), an identify's its newest delivery's (as edgeTime, events
 * FINAL and the run that read it: the edges that delivery wrote, not a node only an older one sent); never the first
 * row ClickHouse happens to return, so the order of rule 4, and a link's redundancy in contextLinks, do not depend on it.
 */
function messageTime(messageId: string, a: Timed, b: Timed): Timed {
  if (messageId.startsWith(linkMessagePrefix)) return a.ts <= b.ts ? a : b;
  // Two deliveries in one second: the later timestamp, as before.
  return a.received > b.received || (a.received === b.received && a.ts >= b.ts) ? a : b;
}

const timedEdge = (edge: EdgeRow): Timed => ({ ts: Number(edge.ts), received: Number(edge.received) });

/**
 * Edges of the graph component(s) of `seeds`, following messages and nodes until nothing new appears. An edge of a
 * `blocked` node (blockedNodes) is neither followed nor returned: written before its value was a placeholder, it
 * would join everyone who sent it again. Such nodes come back as `skipped`.
 */
async function componentEdges(
  client: ClickHouseClient,
  seeds: Set<string>,
  expandLimit: number,
  blocked: (node: string) => boolean,
): Promise<{ edges: EdgeRow[]; skipped: Set<string> }> {
  const seen = new Set(seeds);
  let frontier = [...seeds].filter((node) => !blocked(node));
  const edges = new Map<string, EdgeRow>();
  const skipped = new Set<string>();
  const kept = (edge: EdgeRow): boolean => {
    if (!blocked(edge.node)) return true;
    skipped.add(edge.node);
    return false;
  };
  while (frontier.length > 0) {
    if (frontier.length > expandLimit) {
      return { edges: (await rows<EdgeRow>(client, `SELECT ${edgeColumns} FROM identity_edges GROUP BY message_id, node`)).filter(kept), skipped };
    }
    // In IN lists of 1,000 nodes, so one query stays small however many people logged in since the last run.
    const found: EdgeRow[] = [];
    for (let i = 0; i < frontier.length; i += 1000) {
      found.push(
        ...(await rows<EdgeRow>(
          client,
          `SELECT ${edgeColumns} FROM identity_edges
           WHERE message_id IN (SELECT message_id FROM identity_edges WHERE node IN ${strList(frontier.slice(i, i + 1000))})
           GROUP BY message_id, node`,
        )),
      );
    }
    frontier = [];
    for (const edge of found) {
      if (!kept(edge)) continue;
      edges.set(`${edge.message_id}\u0000${edge.node}`, edge);
      if (!seen.has(edge.node)) {
        seen.add(edge.node);
        frontier.push(edge.node);
      }
    }
  }
  return { edges: [...edges.values()], skipped };
}

/**
 * The name of a context link's message in identity_edges, from its nodes, not from an event: clients choose message
 * ids, and another event's id (an identify from another source, another user's event of another day) would make one
 * message of both, joining their persons; and the same link gets the same name whichever run's window finds it.
 * JSON, not a join: no userId, whatever characters it holds, makes two sets of nodes read alike.
 */
export const linkMessageId = (nodes: readonly string[]): string => `${linkMessagePrefix}${sha256(JSON.stringify([...nodes].sort()))}`;

/**
 * The nodes of a message that a context link would repeat: without a user node that the message names only as a
 * server-side alias's ambiguous previousId (its `previous:` edge, see EventNodes.previous). The link says that it was
 * a userId, which names the person (rule 3), so such a message does not make it redundant.
 */
function surelyHeld(nodes: ReadonlySet<string>): Set<string> {
  const held = new Set(nodes);
  for (const node of nodes) {
    if (!node.startsWith(previousEdgePrefix)) continue;
    held.delete(node);
    held.delete(node.slice(previousEdgePrefix.length));
  }
  return held;
}

/**
 * The window's userId ↔ e-mail/phone links from other events' context.traits (events.context_identity, written at
 * ingest) that no message holds yet, as new messages. Strong nodes only, never the event's device: these events repeat
 * what the app knows of its user, they do not say that a device identified as them (only identify and alias do). One
 * row per pair (GROUP BY), so 500 events of one user cost one link, and a pair already held by some message (of
 * identity_edges, or one of `fresh`'s, with the userId and every other node) BEFORE the pair's earliest event in the
 * resolver's order (in the same second: a message whose id sorts first, or the link itself) is skipped: a window
 * re-read every run adds nothing twice. A later message does not make it redundant: rule 1 gives an e-mail to the
 * userId that claimed it first, so the link's own time counts (a user's identify after another user's
 * claim, the app having given the e-mail before it). Not skipped merely because the nodes map to one person today: a
 * shared device's identify can part them later, and this message would still join them. A link of a userId with an
 * e-mail that another userId holds is kept like any other (it is looked up under its own userId's messages); the
 * resolver then leaves the e-mail with its first claimant and both users apart.
 */
async function contextLinks(client: ClickHouseClient, sinceText: string, fresh: readonly NewMessage[], blocked: BlockedIds): Promise<NewMessage[]> {
  const found = await rows<LinkFacts>(
    client,
    `SELECT user_id AS c_user, context_identity AS c_identity, toUInt32(min(timestamp)) AS ts, max(received_at) AS last_received
     FROM events
     WHERE received_at >= ${sinceText} AND context_identity != '' AND user_id != '' AND type NOT IN ('identify', 'alias')
       AND NOT (${crawlerDelivery})
     GROUP BY user_id, context_identity`,
  );
  const candidates: NewMessage[] = [];
  for (const link of found) {
    const { strong } = eventNodes({ type: 'track', anonymousId: '', userId: link.c_user, previousId: '', traits: link.c_identity }, blocked);
    // A userId the config blocks (since its events were stored) leaves an e-mail and phone of no user: no link, and no
    // message indexed under a user could ever hold one, so each run would store it again.
    if (strong.length < 2 || !strong[0]?.startsWith('user:')) continue;
    candidates.push({ messageId: linkMessageId(strong), nodes: strong, ts: Number(link.ts), lastReceived: link.last_received });
  }
  // The nodes of each message that holds a candidate's userId: this run's identify/alias messages, then identity_edges'
  // rows of the candidates' nodes, 1,000 candidates at a time: a range read of the table's key (node, message_id), not
  // a scan of every message id. A message read without its user node is indexed under no user, so it holds nothing.
  const messagesOf = new Map<string, HeldMessage[]>();
  const remember = (all: Set<string>, message: Pick<NewMessage, 'messageId' | 'ts'>) => {
    const held = { nodes: surelyHeld(all), time: message.ts, messageId: message.messageId };
    for (const node of held.nodes) {
      if (!node.startsWith('user:')) continue;
      const list = messagesOf.get(node);
      if (list) list.push(held);
      else messagesOf.set(node, [held]);
    }
  };
  for (const message of fresh) remember(new Set(message.nodes), message);
  for (let i = 0; i < candidates.length; i += 1000) {
    const chunk = candidates.slice(i, i + 1000);
    const users = [...new Set(chunk.map((c) => c.nodes[0] as string))];
    const edges = await rows<EdgeRow>(
      client,
      `SELECT ${edgeColumns} FROM identity_edges
       WHERE node IN ${strList([...new Set(chunk.flatMap((c) => c.nodes)), ...users.map((user) => previousEdgePrefix + user)])}
       GROUP BY message_id, node`,
    );
    const byMessage = new Map<string, { nodes: Set<string>; time: Timed }>();
    for (const edge of edges) {
      const message = byMessage.get(edge.message_id) ?? { nodes: new Set<string>(), time: timedEdge(edge) };
      byMessage.set(edge.message_id, { nodes: message.nodes.add(edge.node), time: messageTime(edge.message_id, message.time, timedEdge(edge)) });
    }
    for (const [messageId, message] of byMessage) remember(message.nodes, { messageId, ts: message.time.ts });
  }
  const links: NewMessage[] = [];
  // Earliest first: of two pairs of the window with the same nodes (`Ann@x.com` and `ann@x.com`), one message, the earlier.
  candidates.sort((a, b) => a.ts - b.ts || (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0));
  for (const candidate of candidates) {
    // eventNodes puts the userId first. Held "before" in the resolver's order, message ids breaking a tie of one second:
    // a message of the same second that sorts after the link would let another user's claim of that second in between.
    const place = { time: candidate.ts, messageId: candidate.messageId };
    const held = messagesOf.get(candidate.nodes[0] as string) ?? [];
    if (held.some((message) => byTimeThenId(message, place) <= 0 && candidate.nodes.every((node) => message.nodes.has(node)))) continue;
    remember(new Set(candidate.nodes), candidate);
    links.push(candidate);
  }
  return links;
}

export function toMessages(edges: readonly EdgeRow[]): IdentityMessage[] {
  const byMessage = new Map<string, IdentityMessage>();
  const timeOf = new Map<string, Timed>();
  for (const edge of edges) {
    const message = byMessage.get(edge.message_id) ?? { messageId: edge.message_id, time: Number(edge.ts), strong: [], device: undefined };
    const time = messageTime(edge.message_id, timeOf.get(edge.message_id) ?? timedEdge(edge), timedEdge(edge));
    timeOf.set(edge.message_id, time);
    message.time = time.ts;
    if (edge.node.startsWith('anon:')) message.device = edge.node;
    else if (edge.node.startsWith(previousEdgePrefix)) message.previous = edge.node.slice(previousEdgePrefix.length);
    else message.strong.push(edge.node);
    byMessage.set(edge.message_id, message);
  }
  for (const message of byMessage.values()) message.strong.sort();
  return [...byMessage.values()];
}

/** One run of the identity job against the database `client` is bound to. */
export async function runIdentityJob(client: ClickHouseClient, options: IdentityJobOptions = {}): Promise<IdentityJobResult> {
  const overlapSeconds = options.overlapSeconds ?? 86_400;
  const identity = await resolveNewIdentities(client, overlapSeconds, options.expandLimit ?? 20_000, blockedIdSet(options.blockedIds));
  const persons = await appendPersonEvents(client, {
    overlapSeconds,
    ...(options.squashAfterNodes === undefined ? {} : { squashAfterNodes: options.squashAfterNodes }),
    ...(options.squashAfterSeconds === undefined ? {} : { squashAfterSeconds: options.squashAfterSeconds }),
  });
  return { ...identity, personEvents: persons.appended, rewrittenBuckets: persons.rewrittenBuckets };
}

async function resolveNewIdentities(
  client: ClickHouseClient,
  overlap: number,
  expandLimit: number,
  blocked: BlockedIds,
): Promise<Pick<IdentityJobResult, 'events' | 'links' | 'identifiers' | 'staleIdentifiers'>> {
  // The checkpoint's version is the version of the last run that completed (see identity_run_nodes).
  const checkpoint = await readCheckpoint(client, identityJob);
  const completed = checkpoint.version;
  const since = Math.max(0, checkpoint.position - overlap);
  const sinceText = dt(since * 1000);
  // Newest delivery of each message (as events FINAL would keep it) not yet recorded in identity_edges. A crawler's
  // (a synthetic monitor logging in, say) joins no one: its events are no person's (jobs/fresh_events.sql, with
  // the same crawlerDelivery test), and its identifiers, linked to a real customer's e-mail, would merge them into one.
  // Nor one whose id is a context link's: ingest refuses such ids (reserved_message_id), but rows stored before the
  // rule, or spooled by an older collector, would join their sender to the link's customer.
  const fresh = await rows<EventFacts>(
    client,
    `SELECT message_id, argMax(type, received_at) AS t_type, argMax(anonymous_id, received_at) AS t_anon,
            argMax(user_id, received_at) AS t_user, argMax(previous_id, received_at) AS t_previous,
            argMax(traits, received_at) AS t_traits, toUInt32(argMax(timestamp, received_at)) AS ts,
            max(received_at) AS last_received
     FROM events
     WHERE type IN ('identify', 'alias') AND received_at >= ${sinceText} AND message_id NOT LIKE ${str(`${linkMessagePrefix}%`)}
     GROUP BY message_id
     HAVING argMax(${crawlerDelivery}, received_at) = 0
        AND (message_id, last_received) NOT IN
            (SELECT message_id, max(received_at) FROM identity_edges WHERE received_at >= ${sinceText} GROUP BY message_id)`,
  );
  const identified = fresh.map((event): NewMessage => {
    const nodes = eventNodes({ type: event.t_type, anonymousId: event.t_anon, userId: event.t_user, previousId: event.t_previous, traits: event.t_traits }, blocked);
    return {
      messageId: event.message_id,
      nodes: [...nodes.strong, ...(nodes.device ? [nodes.device] : []), ...(nodes.previous ? [previousEdgePrefix + nodes.previous] : [])],
      ts: Number(event.ts),
      lastReceived: event.last_received,
    };
  });
  const links = await contextLinks(client, sinceText, identified, blocked);
  // Nodes of runs that started after the last completed one and did not finish: their edges are written (so
  // their events are no longer fresh), their identities maybe not. Usually none: a range read of a few rows.
  const unfinished = await rows<{ node: string }>(client, `SELECT DISTINCT node FROM identity_run_nodes WHERE version > ${int(completed)}`);
  if (fresh.length === 0 && links.length === 0 && unfinished.length === 0) return { events: 0, links: 0, identifiers: 0, staleIdentifiers: 0 };
  const version = Math.max(Date.now(), completed + 1);

  const messages = [...identified, ...links];
  const edgeRows: { message_id: string; node: string; timestamp: string; received_at: string }[] = [];
  const seeds = new Set<string>(unfinished.map((r) => r.node));
  const newNodes = new Set<string>();
  for (const message of messages) {
    for (const node of message.nodes) {
      seeds.add(node);
      newNodes.add(node);
      edgeRows.push({ message_id: message.messageId, node, timestamp: toDateTimeText(message.ts * 1000), received_at: message.lastReceived });
    }
  }
  // Before the edges: once they exist, these nodes are found only through identity_run_nodes until this run completes.
  await insertRows(client, 'identity_run_nodes', [...newNodes].map((node) => ({ version, node })));
  await insertRows(client, 'identity_edges', edgeRows);

  const component = await componentEdges(client, seeds, expandLimit, blockedNodes(blocked));
  const resolved = resolveIdentities(toMessages(component.edges));
  // An identifier left without any edge is its own person again. Only migration 037 removes edges (those of
  // crawlers' logins), and it names their identifiers in identity_run_nodes: a crawler's device or account, mapped
  // to whoever it had logged in as. So is a placeholder whose old edges were skipped: the events stored with
  // "undefined" belong to no customer it had merged. (`previous:` edges name no identifier.)
  for (const node of [...seeds, ...component.skipped]) {
    if (!resolved.has(node) && !node.startsWith(previousEdgePrefix)) resolved.set(node, [{ validFrom: 0, personId: node }]);
  }
  // Only what changed is written: one login in a component of thousands of accounts would otherwise rewrite
  // (and version anew) every one of their identities. Identifiers left as they were keep their rows.
  const changes = await mappingChanges(client, resolved);
  // Stale marks before identities: an interruption in between leaves extra marks (a cost at read time only),
  // and the next run, finding the same changes, marks and writes them again; one after a partial write finds
  // the written identifiers unchanged and writes the rest.
  const staleIdentifiers = await markStaleNodes(client, changes.moved);
  const now = Math.max(Date.now(), version);
  const mappedAt = toDateTimeText(now);
  // Above the rows they replace: those a collector whose clock ran ahead wrote would otherwise stay current.
  const rowVersion = Math.max(now, changes.newestVersion + 1);
  const identityRows = [...changes.write].flatMap(([identifier, periods]) =>
    periods.map((p) => ({ identifier, valid_from: toDateTimeText(p.validFrom * 1000), person_id: p.personId, mapped_at: mappedAt, version: rowVersion })),
  );
  await insertRows(client, 'identities', identityRows);
  const previous = toDateTimeText(checkpoint.position * 1000);
  const newest = messages.reduce((max, m) => (m.lastReceived > max ? m.lastReceived : max), previous);
  // The run's last statement that matters: from here on its nodes no longer need re-resolving.
  await writeCheckpoint(client, identityJob, newest, version);
  // Every row left has a version up to this completed run's (runs are never concurrent), so none is read
  // again; emptied here so the table stays small. Interrupted before this, the next completed run empties it.
  await client.command({ query: 'TRUNCATE TABLE identity_run_nodes' });
  return { events: fresh.length, links: links.length, identifiers: changes.write.size, staleIdentifiers };
}
