// SQL statements of the warehouse jobs, kept in collector/sql/jobs/*.sql where an analyst can read them.
// A statement names its inputs `{name}`; callers fill them with SQL built from literal.ts only.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { splitStatements } from './migrate';

export const jobSqlDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'sql', 'jobs');

/**
 * A delivery made by a crawler, as the identity job reads `events`: flagged `is_bot` (collector/ingest/user-agent.ts),
 * by a named library or a browser's `Mozilla/` user agent. Collectors before migration 037 also flagged scripts and
 * servers that name no library (curl, Node's fetch); the second half applies today's rule to their rows too.
 */
export const crawlerDelivery = "is_bot = 1 AND (library_name != '' OR user_agent LIKE 'Mozilla/%')";

const cache = new Map<string, string>();

/** The one statement of collector/sql/jobs/`name`.sql with every `{key}` replaced by `parts[key]`. */
export function jobSql(name: string, parts: Record<string, string>): string {
  let text = cache.get(name);
  if (text === undefined) {
    const [statement, extra] = splitStatements(readFileSync(join(jobSqlDir, `${name}.sql`), 'utf8'));
    if (statement === undefined || extra !== undefined) throw new Error(`${name}.sql must hold exactly one statement`);
    text = statement;
    cache.set(name, text);
  }
  return text.replace(/\{([a-z_]+)\}/g, (_, key: string) => {
    const part = parts[key];
    if (part === undefined) throw new Error(`${name}.sql: no value for {${key}}`);
    return part;
  });
}
