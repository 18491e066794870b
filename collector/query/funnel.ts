// The funnel builder: arbitrary steps (events with property filters), a conversion window, optional time range
// and source of the first step, compiled to one query over person_events (grouped by person_key; funnel-levels.ts).
import { eventMatchSql, filterSql, isRecord, onlyFields, personEventsWhere, QueryInputError, readFilters, readNumber, readText, type PropertyFilter } from './conditions';
import { parseClientTime } from '../ingest/iso-time';
import { dt, str, timeProblem } from './literal';
import { funnelLevelsSql } from './funnel-levels';
import { querySizeProblem } from './size';

export interface FunnelStep {
  event: string;
  where: PropertyFilter[];
}

export interface FunnelQuery {
  steps: FunnelStep[];
  windowSeconds: number;
  from?: number;
  to?: number;
  source?: string;
}

function readTime(value: unknown, path: string): number {
  const ms = typeof value === 'string' ? parseClientTime(value) : NaN;
  if (Number.isNaN(ms)) throw new QueryInputError(path, 'must be an ISO-8601 date-time, such as 2026-11-23T10:00:00Z');
  const problem = timeProblem(ms);
  if (problem) throw new QueryInputError(path, problem);
  return ms;
}

/** Validates a funnel request body; throws QueryInputError naming the path of the first problem. */
export function parseFunnelQuery(raw: unknown): FunnelQuery {
  if (!isRecord(raw)) throw new QueryInputError('funnel', 'must be a JSON object');
  onlyFields(raw, ['steps', 'windowSeconds', 'from', 'to', 'source'], 'funnel');
  if (!Array.isArray(raw.steps) || raw.steps.length === 0) throw new QueryInputError('funnel.steps', 'must be a non-empty array of steps');
  if (raw.steps.length > 20) throw new QueryInputError('funnel.steps', 'at most 20 steps');
  const steps = raw.steps.map((step, i): FunnelStep => {
    const path = `funnel.steps[${i}]`;
    if (!isRecord(step)) throw new QueryInputError(path, 'must be an object {event, where?}');
    onlyFields(step, ['event', 'where'], path);
    return { event: readText(step.event, `${path}.event`), where: readFilters(step.where, `${path}.where`) };
  });
  const query: FunnelQuery = { steps, windowSeconds: readNumber(raw.windowSeconds, 'funnel.windowSeconds', { min: 1, max: 366 * 86_400, integer: true }) };
  if (raw.from !== undefined) query.from = readTime(raw.from, 'funnel.from');
  if (raw.to !== undefined) query.to = readTime(raw.to, 'funnel.to');
  if (query.from !== undefined && query.to !== undefined && query.to <= query.from) throw new QueryInputError('funnel.to', 'must be after from');
  if (raw.source !== undefined) query.source = readText(raw.source, 'funnel.source');
  return withinQuerySize(query);
}

/** Refuses a funnel whose SQL ClickHouse would not take (query/size.ts): only possible beyond the documented limits. */
function withinQuerySize(query: FunnelQuery): FunnelQuery {
  const problem = querySizeProblem(compileFunnel(query));
  if (problem) throw new QueryInputError('funnel.steps', problem);
  return query;
}

/**
 * SQL with one row: step_1 … step_n, the persons who reached each step within the window. Steps follow event
 * order (ms, then position in the batch, then step order for two requests' events of one ms and position), each a
 * later event than the step before it, so one event completes at most one step, and all within windowSeconds of
 * the first step's event (inclusive, in ms); a person's level is the furthest any start reaches. The levels come
 * from array functions (funnel-levels.ts), not windowFunnel, which orders events of one second differently on 18.16
 * and modern ClickHouse and lets one event complete two steps on modern ones: the same answer on both.
 */
export function compileFunnel(query: FunnelQuery): string {
  // `source` picks the funnels begun there: later steps count from any source (an order the shop's backend
  // sends completes a web funnel), as in ecommerce_funnel_daily.
  const conditions = query.steps.map((step, i) =>
    [eventMatchSql(step.event), ...step.where.map((f) => filterSql(f)), ...(i === 0 && query.source !== undefined ? [`source = ${str(query.source)}`] : [])].join(' AND '),
  );
  // Rows are picked by event name alone (the sorting key does it); each step's full condition, property
  // filters included, is then computed once per row, as bit k-1 of step_mask (18.16 evaluates every branch of a
  // condition).
  // Persons only: an event stored without ids (event:<message_id>, views/010_base.sql) is a person of its own,
  // so a shopper whose ids the consent policy stripped would count once per step, as a funnel that never went on.
  const where = [`(${[...new Set(query.steps.map((step) => eventMatchSql(step.event)))].join(' OR ')})`, "person_id NOT LIKE 'event:%'"];
  if (query.from !== undefined) where.push(`timestamp >= ${dt(query.from)}`);
  if (query.to !== undefined) where.push(`timestamp < ${dt(query.to)}`);
  const mask = conditions.map((c, i) => `toUInt32(${c}) * ${2 ** i}`).join(' + ');
  const source = personEventsWhere(
    ['person_key', 'timestamp_ms * 65536 + batch_position AS event_order', `${mask} AS step_mask`],
    where.join(' AND '),
  );
  const levels = funnelLevelsSql({ rows: `${source} WHERE step_mask != 0`, steps: query.steps.length, windowMs: query.windowSeconds * 1000 });
  const counts = query.steps.map((_, i) => `countIf(level >= ${i + 1}) AS step_${i + 1}`).join(', ');
  return `SELECT ${counts} FROM (${levels})`;
}
