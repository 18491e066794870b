// The id of one materialisation run of a segment, as the members API hands it out and takes it back to page
// that run (`?run=`). A run is its number and its token: two runs that overlapped can share a number
// (segment_runs, migration 039). Clients treat the id as opaque; it reads `<run>-<token>`. Pure.
import { QueryInputError } from './conditions';

/** One run of a segment: the rows of segment_members and segment_runs with this run and run_token. */
export interface RunRef {
  run: number;
  token: string;
}

/**
 * The tokens runs carry: 16 hex digits from materialize, '' for runs stored before migration 039. Letters and
 * digits up to 64 cover both and keep the id safe in a URL without escaping.
 */
const idShape = /^(\d{1,16})-([A-Za-z0-9]{0,64})$/;

export function formatRunId(ref: RunRef): string {
  return `${ref.run}-${ref.token}`;
}

/** The run a `run` parameter names; a QueryInputError when it is not an id formatRunId could have written. */
export function parseRunId(value: unknown): RunRef {
  const match = typeof value === 'string' ? idShape.exec(value) : null;
  const run = Number(match?.[1]);
  if (!match || !Number.isSafeInteger(run)) {
    throw new QueryInputError('run', 'must be the runId of an earlier members answer, passed back unchanged (digits, a dash, then letters and digits)');
  }
  return { run, token: match[2] ?? '' };
}
