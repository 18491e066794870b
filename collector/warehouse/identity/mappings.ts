// What a resolution changes in identities: a run re-resolves whole graph components (needed for correctness), but
// a component can hold thousands of persons (rule 1 keeps the accounts of a shared QA address apart in one
// component), so only the identifiers whose periods differ from identities_current are written and marked stale.
import { queryRows, type ClickHouseClient } from '../client';
import { strList } from '../../query/literal';
import type { Period } from './resolve';

/** An identifier's periods in one comparable string, whatever order they come in. */
const periodsText = (periods: readonly Period[]): string =>
  [...periods]
    .sort((a, b) => a.validFrom - b.validFrom)
    .map((p) => `${p.validFrom}\u0000${p.personId}`)
    .join('\u0001');

/** Current periods of `identifiers` as periodsText; an identifier identities holds no row of is left out. */
async function currentPeriods(client: ClickHouseClient, identifiers: string[]): Promise<Map<string, string>> {
  const found = new Map<string, Period[]>();
  const read = async (query: string): Promise<void> => {
    const rows = await queryRows<{ identifier: string; since: number; person_id: string }>(client, query);
    for (const row of rows) found.set(row.identifier, [...(found.get(row.identifier) ?? []), { validFrom: Number(row.since), personId: row.person_id }]);
  };
  // A whole-graph run compares everything: one scan beats thousands of IN lists. Otherwise identities_current
  // narrowed to the identifiers first (identities is sorted by identifier; the view would group all of them).
  if (identifiers.length > 20_000) await read('SELECT identifier, toUInt32(valid_from) AS since, person_id FROM identities_current');
  else {
    for (let i = 0; i < identifiers.length; i += 1000) {
      const list = strList(identifiers.slice(i, i + 1000));
      await read(
        `SELECT identifier, toUInt32(valid_from) AS since, person_id FROM identities
         WHERE identifier IN ${list} AND (identifier, version) IN (SELECT identifier, max(version) FROM identities WHERE identifier IN ${list} GROUP BY identifier)`,
      );
    }
  }
  return new Map([...found].map(([identifier, periods]) => [identifier, periodsText(periods)]));
}

export interface MappingChanges {
  /**
   * The identifiers to write: periods that differ from identities_current's, or no row there yet. An identifier
   * without a row is its own person for attribution, but segments' exports read a person's e-mails and phones from
   * identities, so a new node is written even when it is its own person.
   */
  write: Map<string, Period[]>;
  /** Those whose person changed at some time (an identifier without a row was its own person): stale candidates. */
  moved: string[];
}

/** Compares `resolved` with identities_current (see MappingChanges). */
export async function mappingChanges(client: ClickHouseClient, resolved: ReadonlyMap<string, Period[]>): Promise<MappingChanges> {
  const before = await currentPeriods(client, [...resolved.keys()]);
  const write = new Map<string, Period[]>();
  const moved: string[] = [];
  for (const [identifier, periods] of resolved) {
    const now = periodsText(periods);
    const was = before.get(identifier);
    if (was === now) continue;
    write.set(identifier, periods);
    if ((was ?? periodsText([{ validFrom: 0, personId: identifier }])) !== now) moved.push(identifier);
  }
  return { write, moved };
}
