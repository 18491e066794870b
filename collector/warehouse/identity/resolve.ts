// Resolves identity-graph messages into persons. Pure and deterministic: the result depends only on the
// SET of messages (they are sorted by event time, then message id), never on arrival order.
//
// Rules:
//  1. One userId per person (Segment Unify's default: user_id limit 1, priority user_id > e-mail > others). The
//     userIds of one message always join one person: an alias (userId + previousId) is an explicit merge,
//     and the merged person keeps both users' e-mails and phones. A message's e-mail and phone join the person
//     of its anchor (its first node in compareNodes order: its userId when it has one) unless that would put two
//     persons holding userIds together; then the e-mail/phone stays with the person that claimed it first in
//     the order of messages, and the message keeps its userId (and its device, rule 2) without it. So a shared
//     family/office/QA address, or an app whose context.traits still hold the previous user's e-mail, never
//     makes one person of two accounts, and one placeholder e-mail cannot collapse thousands into one.
//  2. A device joins the person(s) it identified as (each message's anchor). When the persons it links would
//     hold two different userIds (a family computer), nothing is merged through it: the device is "shared", and
//     its identifier maps to a sequence of persons by time: history before the first identify stays with the
//     first person, and from each identify on, events follow whoever identified last.
//  3. A person's id is its first node in compareNodes order (a userId when it has one). A server-side
//     alias's previousId (maybe an anonymous id, see EventNodes.previous) names the person only when no
//     other userId does or it was some message's userId too.
import { compareNodes, type EventNodes } from './identifiers';

export interface IdentityMessage extends EventNodes {
  messageId: string;
  /** Event time, epoch seconds (the skew-corrected `timestamp`). */
  time: number;
}

/** From `validFrom` (epoch seconds) on, the identifier belongs to `personId`. */
export interface Period {
  validFrom: number;
  personId: string;
}

class UnionFind {
  private parent = new Map<string, string>();
  find(node: string): string {
    let root = this.parent.get(node) ?? node;
    if (root === node) {
      if (!this.parent.has(node)) this.parent.set(node, node);
      return node;
    }
    root = this.find(root);
    this.parent.set(node, root);
    return root;
  }
  union(a: string, b: string): string {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent.set(rb, ra);
    return ra;
  }
  nodes(): string[] {
    return [...this.parent.keys()];
  }
}

/** A UnionFind that knows which of its components hold a userId, and joins two of those only when told to. */
class UserLimitedUnionFind extends UnionFind {
  private withUser = new Set<string>();
  add(node: string): void {
    const root = this.find(node);
    if (node.startsWith('user:')) this.withUser.add(root);
  }
  holdsUser(node: string): boolean {
    return this.withUser.has(this.find(node));
  }
  /** Joins b's component to a's, unless both hold userIds and `force` is not set (rule 1). */
  join(a: string, b: string, force: boolean): void {
    this.add(a);
    this.add(b);
    if (!force && this.find(a) !== this.find(b) && this.holdsUser(a) && this.holdsUser(b)) return;
    const held = this.holdsUser(a) || this.holdsUser(b);
    const root = this.union(a, b);
    if (held) this.withUser.add(root);
  }
}

/** The order messages are resolved in (rule 4): event time, then message id. */
export const byTimeThenId = (a: Pick<IdentityMessage, 'time' | 'messageId'>, b: Pick<IdentityMessage, 'time' | 'messageId'>): number =>
  a.time - b.time || (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0);

/**
 * The node a message's other strong nodes join and its device identifies as: its userId when it has one. Its first
 * strong node: resolveIdentities puts each message's nodes in compareNodes order once, up front.
 */
const anchorOf = (message: IdentityMessage): string | undefined => message.strong[0];

/** Strong components by rule 1, messages taken in canonical order (first claim wins). */
function strongComponents(sorted: readonly IdentityMessage[]): UserLimitedUnionFind {
  const strong = new UserLimitedUnionFind();
  for (const message of sorted) {
    const anchor = anchorOf(message);
    if (anchor === undefined) continue;
    strong.add(anchor);
    // userIds first (compareNodes): an alias's two users are joined before its e-mail/phone is weighed.
    for (const node of message.strong) if (node !== anchor) strong.join(anchor, node, node.startsWith('user:'));
  }
  return strong;
}

/**
 * Appends to `periods` (a device's so far, in time order) its switch to `personId` at `time`. A period that began in
 * that same second is replaced, not followed: identities holds one row per (identifier, valid_from), so two periods
 * of one second would share a key, and whichever row a merge kept (before it, whichever attribution read first)
 * would decide the device's person instead of that second's latest identify.
 */
function switchPeriods(periods: Period[], personId: string, time: number): void {
  while (periods.length > 0 && (periods[periods.length - 1] as Period).validFrom === time) periods.pop();
  const last = periods[periods.length - 1];
  if (last === undefined) periods.push({ validFrom: 0, personId });
  else if (last.personId !== personId) periods.push({ validFrom: time, personId });
}

/** Maps every node of `messages` to its periods (one period unless it is a shared device). */
export function resolveIdentities(messages: readonly IdentityMessage[]): Map<string, Period[]> {
  const sorted = messages.map((m) => ({ ...m, strong: [...m.strong].sort(compareNodes) })).sort(byTimeThenId);
  const strong = strongComponents(sorted);

  // Each device's links to strong nodes, in canonical order.
  const links = new Map<string, IdentityMessage[]>();
  const loneDevices = new Set<string>();
  for (const message of sorted) {
    if (!message.device) continue;
    if (message.strong.length === 0) {
      loneDevices.add(message.device);
      continue;
    }
    const list = links.get(message.device) ?? [];
    list.push(message);
    links.set(message.device, list);
  }

  // Persons: strong components merged through unshared devices, devices taken in order of first link. A device is
  // shared when it links two components that hold userIds (one component may hold several, joined by an alias).
  const persons = new UnionFind();
  const withUser = new Set<string>();
  for (const node of strong.nodes()) {
    const root = persons.find(strong.find(node));
    if (strong.holdsUser(node)) withUser.add(root);
  }
  const linkRoot = (message: IdentityMessage): string => persons.find(strong.find(anchorOf(message) as string));
  const shared = new Set<string>();
  for (const [device, deviceLinks] of links) {
    const roots = [...new Set(deviceLinks.map(linkRoot))];
    if (roots.filter((root) => withUser.has(root)).length > 1) {
      shared.add(device);
      continue;
    }
    const [head, ...others] = roots as [string, ...string[]];
    let root = head;
    for (const other of others) root = persons.union(root, other);
    if (roots.some((r) => withUser.has(r))) withUser.add(root);
  }

  const members = new Map<string, string[]>();
  const rootOf = (node: string): string => persons.find(strong.find(node));
  for (const node of strong.nodes()) {
    const root = rootOf(node);
    members.set(root, [...(members.get(root) ?? []), node]);
  }
  for (const [device, deviceLinks] of links) {
    if (shared.has(device)) continue;
    const root = linkRoot(deviceLinks[0] as IdentityMessage);
    members.set(root, [...(members.get(root) ?? []), device]);
  }
  const userIds = new Set(messages.flatMap((m) => m.strong.filter((node) => node.startsWith('user:') && node !== m.previous)));
  const unsure = new Set(messages.flatMap((m) => (m.previous && !userIds.has(m.previous) ? [m.previous] : [])));
  const personOfRoot = new Map<string, string>();
  for (const [root, nodes] of members) {
    const sure = nodes.filter((node) => !unsure.has(node));
    personOfRoot.set(root, (sure.length ? sure : nodes).sort(compareNodes)[0] as string);
  }
  const personOf = (node: string): string => personOfRoot.get(rootOf(node)) as string;

  const result = new Map<string, Period[]>();
  for (const node of strong.nodes()) result.set(node, [{ validFrom: 0, personId: personOf(node) }]);
  for (const [device, deviceLinks] of links) {
    const periods: Period[] = [];
    for (const link of deviceLinks) switchPeriods(periods, personOf(anchorOf(link) as string), link.time);
    result.set(device, periods);
  }
  // A device that identified without any userId/e-mail/phone is a person of its own.
  for (const device of loneDevices) if (!result.has(device)) result.set(device, [{ validFrom: 0, personId: device }]);
  return result;
}
