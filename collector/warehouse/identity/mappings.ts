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

/** An identifier's current periods (as periodsText) and the version they were written with. */
interface Current {
  text: string;
  version: number;
}

/** Current periods of `identifiers`; an identifier identities holds no row of is left out. */
async function currentPeriods(client: ClickHouseClient, identifiers: string[]): Promise<Map<string, Current>> {
  const found = new Map<string, { periods: Period[]; version: number }>();
  const read = async (query: string): Promise<void> => {
    const rows = await queryRows<{ identifier: string; since: number; person_id: string; row_version: number }>(client, query);
    for (const row of rows) {
      const current = found.get(row.identifier) ?? { periods: [], version: Number(row.row_version) };
      current.periods.push({ validFrom: Number(row.since), personId: row.person_id });
      found.set(row.identifier, current);
    }
  };
  // The newest version's rows of the identifiers `filter` keeps, as identities_current pairs them (the view has no
  // version). A whole-graph run compares everything: one scan beats thousands of IN lists. Otherwise narrowed to
  // the identifiers first (identities is sorted by identifier; the view would group all of them).
  const newestRows = (filter: string): string =>
    `SELECT identifier, toUInt32(valid_from) AS since, person_id, version AS row_version FROM identities
     WHERE ${filter} AND (identifier, version) IN (SELECT identifier, max(version) FROM identities WHERE ${filter} GROUP BY identifier)`;
  if (identifiers.length > 20_000) await read(newestRows('1'));
  else {
    for (let i = 0; i < identifiers.length; i += 1000) await read(newestRows(`identifier IN ${strList(identifiers.slice(i, i + 1000))}`));
  }
  return new Map([...found].map(([identifier, current]) => [identifier, { text: periodsText(current.periods), version: current.version }]));
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
  /**
   * The highest version of the current rows of `write` (0 without any). The rows written must have a higher one, or
   * identities_current keeps the old: a collector whose clock ran ahead may have written them.
   */
  newestVersion: number;
}

/** Compares `resolved` with identities_current (see MappingChanges). */
export async function mappingChanges(client: ClickHouseClient, resolved: ReadonlyMap<string, Period[]>): Promise<MappingChanges> {
  const before = await currentPeriods(client, [...resolved.keys()]);
  const write = new Map<string, Period[]>();
  const moved: string[] = [];
  let newestVersion = 0;
  for (const [identifier, periods] of resolved) {
    const now = periodsText(periods);
    const was = before.get(identifier);
    if (was?.text === now) continue;
    write.set(identifier, periods);
    newestVersion = Math.max(newestVersion, was?.version ?? 0);
    if ((was?.text ?? periodsText([{ validFrom: 0, personId: identifier }])) !== now) moved.push(identifier);
  }
  return { write, moved, newestVersion };
}
