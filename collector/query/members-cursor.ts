// The cursor of a members page (`next` in the answer, `cursor` in the request): the run the pages come from and
// the first member of the page it answers, so that the page is read from the index (person_id >= that member)
// instead of sorting the run and skipping `offset` members. Carrying the run ties every page to it, as `run` does:
// a refresh in between cannot shift the pages. Clients treat it as opaque; it is base64url of a JSON array
// [runId, person_id], which keeps any person_id (quotes, backslashes, any Unicode) safe in a URL. Pure.
import { QueryInputError } from './conditions';
import { formatRunId, parseRunId, type RunRef } from './run-id';

/** Where a page starts: in run `run`, at member `from` (included) in person_id order. */
export interface MembersCursor {
  run: RunRef;
  from: string;
}

const base64url = /^[A-Za-z0-9_-]+$/;

export function formatMembersCursor(cursor: MembersCursor): string {
  return Buffer.from(JSON.stringify([formatRunId(cursor.run), cursor.from])).toString('base64url');
}

const malformed = (): QueryInputError => new QueryInputError('cursor', 'must be the `next` of an earlier members answer, passed back unchanged');

/** The JSON a cursor carries, or undefined when `value` is not exactly what formatMembersCursor writes. */
function decoded(value: unknown): unknown {
  if (typeof value !== 'string' || !base64url.test(value)) return undefined;
  const bytes = Buffer.from(value, 'base64url');
  // Node's decoder skips what it cannot read; only a value that encodes back to itself is one we wrote.
  if (bytes.toString('base64url') !== value) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The page a `cursor` parameter names; a QueryInputError with path `cursor` when it is not a `next` we wrote. */
export function parseMembersCursor(value: unknown): MembersCursor {
  const parts = decoded(value);
  if (!Array.isArray(parts) || parts.length !== 2 || typeof parts[1] !== 'string') throw malformed();
  try {
    return { run: parseRunId(parts[0]), from: parts[1] };
  } catch (error) {
    if (error instanceof QueryInputError) throw malformed();
    throw error;
  }
}
