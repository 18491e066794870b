// Resolves identity-graph messages into persons. Pure and deterministic: the result depends only on the
// SET of messages (they are sorted by event time, then message id), never on arrival order.
//
// Rules:
//  1. The strong identifiers of one message (userId, e-mail, phone, alias ids) always join one person.
//  2. A device joins the person(s) it identified as. When the persons it links would hold two different
//     userIds (a family computer), nothing is merged through it: the device is "shared", and its
//     identifier maps to a sequence of persons by time: history before the first identify stays with the
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

const byTimeThenId = (a: IdentityMessage, b: IdentityMessage): number =>
  a.time - b.time || (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0);

/** Maps every node of `messages` to its periods (one period unless it is a shared device). */
export function resolveIdentities(messages: readonly IdentityMessage[]): Map<string, Period[]> {
  const sorted = [...messages].sort(byTimeThenId);
  const strong = new UnionFind();
  for (const message of sorted) {
    const [first, ...rest] = message.strong;
    if (first === undefined) continue;
    strong.find(first);
    for (const node of rest) strong.union(first, node);
  }

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

  // Persons: strong components merged through unshared devices, devices taken in order of first link.
  const persons = new UnionFind();
  const users = new Map<string, Set<string>>();
  const usersOf = (root: string): Set<string> => users.get(root) ?? new Set();
  for (const node of strong.nodes()) {
    const root = persons.find(strong.find(node));
    if (node.startsWith('user:')) users.set(root, usersOf(root).add(node));
  }
  const shared = new Set<string>();
  for (const [device, deviceLinks] of links) {
    const roots = [...new Set(deviceLinks.map((m) => persons.find(strong.find(m.strong[0] as string))))];
    const together = new Set(roots.flatMap((root) => [...usersOf(root)]));
    if (together.size > 1) {
      shared.add(device);
      continue;
    }
    const [head, ...others] = roots as [string, ...string[]];
    let root = head;
    for (const other of others) root = persons.union(root, other);
    users.set(root, together);
  }

  const members = new Map<string, string[]>();
  const rootOf = (node: string): string => persons.find(strong.find(node));
  for (const node of strong.nodes()) {
    const root = rootOf(node);
    members.set(root, [...(members.get(root) ?? []), node]);
  }
  for (const [device, deviceLinks] of links) {
    if (shared.has(device)) continue;
    const root = rootOf(deviceLinks[0]?.strong[0] as string);
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
    for (const link of deviceLinks) {
      const personId = personOf(link.strong[0] as string);
      if (periods.length === 0) periods.push({ validFrom: 0, personId });
      else if ((periods[periods.length - 1] as Period).personId !== personId) periods.push({ validFrom: link.time, personId });
    }
    result.set(device, periods);
  }
  // A device that identified without any userId/e-mail/phone is a person of its own.
  for (const device of loneDevices) if (!result.has(device)) result.set(device, [{ validFrom: 0, personId: device }]);
  return result;
}
