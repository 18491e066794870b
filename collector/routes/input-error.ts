// The answer to a query-API body or parameter that does not validate: 400 with the route's error code and the
// path of the field (QueryInputError, collector/query/conditions.ts). Anything else is thrown on unchanged.
import { HttpError } from '../errors';
import { QueryInputError } from '../query/conditions';

/** Throws `error` as a 400 `code` naming its path when it is a QueryInputError, else as it is. */
export function refuseInput(error: unknown, code: string): never {
  if (error instanceof QueryInputError) throw new HttpError(400, code, error.message, { path: error.path });
  throw error;
}
