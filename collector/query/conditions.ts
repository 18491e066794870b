// Validation and SQL for the pieces funnels and segments share: which events, with which properties.
// Values reach SQL only through literal.ts; names are refused unless they are plain identifiers.
import { num, numberProblem, str } from './literal';

/** A refused query or rule, with the path of the offending part (e.g. `rule.all[1].where[0].value`). */
export class QueryInputError extends Error {
  readonly code = 'INVALID_QUERY_INPUT';
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
  }
}

export type Comparison = 'eq' | 'neq' | 'gt' | 'gte' | 'lt' | 'lte';
export const comparisons: readonly Comparison[] = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte'];
const sqlComparison: Record<Comparison, string> = { eq: '=', neq: '!=', gt: '>', gte: '>=', lt: '<', lte: '<=' };

export interface PropertyFilter {
  property: string;
  op: Comparison | 'contains';
  value: string | number;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Refuses fields other than `allowed`, naming the first unknown one. */
export function onlyFields(value: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new QueryInputError(`${path}.${key}`, `unknown field (allowed: ${allowed.join(', ')})`);
  }
}

/** A property or trait name (a regular-expression source): letters, digits and _, at most 64, not starting with a digit. */
export const namePattern = '[A-Za-z_][A-Za-z0-9_]{0,63}';
const nameShape = new RegExp(`^${namePattern}$`);

/** Property and trait names: plain identifiers only, so they are safe inside a regular expression too. */
export function readName(value: unknown, path: string): string {
  if (typeof value !== 'string' || !nameShape.test(value)) {
    throw new QueryInputError(path, 'must be a name of letters, digits and _ (at most 64), starting with a letter or _');
  }
  return value;
}

/** Free text (event names, values): every character except control characters, at most 500. */
export function readText(value: unknown, path: string): string {
  if (typeof value !== 'string') throw new QueryInputError(path, 'must be a string');
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new QueryInputError(path, 'must not contain control characters');
  if (value.length === 0 || value.length > 500) throw new QueryInputError(path, 'must be 1 to 500 characters long');
  return value;
}

export function readNumber(value: unknown, path: string, { min = -Infinity, max = Infinity, integer = false } = {}): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new QueryInputError(path, 'must be a number');
  const problem = numberProblem(value);
  if (problem) throw new QueryInputError(path, problem);
  if (integer && !Number.isInteger(value)) throw new QueryInputError(path, 'must be a whole number');
  if (value < min || value > max) throw new QueryInputError(path, `must be between ${min} and ${max}`);
  return value;
}

/** A comparison, or one of `more` (e.g. `contains`): the refusal lists every op the place takes. */
export function readComparison(value: unknown, path: string): Comparison;
export function readComparison<More extends string>(value: unknown, path: string, more: readonly More[]): Comparison | More;
export function readComparison(value: unknown, path: string, more: readonly string[] = []): string {
  const ops = [...comparisons, ...more];
  if (typeof value !== 'string' || !ops.includes(value)) throw new QueryInputError(path, `must be one of ${ops.join(', ')}`);
  return value;
}

export function readFilters(value: unknown, path: string): PropertyFilter[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > 20) throw new QueryInputError(path, 'must be an array of at most 20 property filters');
  return value.map((raw, i) => {
    const at = `${path}[${i}]`;
    if (!isRecord(raw)) throw new QueryInputError(at, 'must be an object {property, op, value}');
    onlyFields(raw, ['property', 'op', 'value'], at);
    const property = readName(raw.property, `${at}.property`);
    const op = readComparison(raw.op, `${at}.op`, ['contains'] as const);
    const rawValue = raw.value;
    const filterValue = typeof rawValue === 'number' ? readNumber(rawValue, `${at}.value`) : readText(rawValue, `${at}.value`);
    if (typeof filterValue === 'string' && !['eq', 'neq', 'contains'].includes(op)) {
      throw new QueryInputError(`${at}.value`, `${op} compares numbers; give a number`);
    }
    if (typeof filterValue === 'number' && op === 'contains') throw new QueryInputError(`${at}.value`, 'contains needs a string');
    return { property, op, value: filterValue };
  });
}

/** `$page` and `$screen` select page and screen views; any other name a track event. */
export function eventMatchSql(event: string): string {
  if (event === '$page') return "type = 'page'";
  if (event === '$screen') return "type = 'screen'";
  return `(type = 'track' AND event = ${str(event)})`;
}

/** Every string value of `property` anywhere in `column` (JSON text), as stored (JSON-escaped). */
function stringValuesSql(column: string, property: string): string {
  return `extractAll(${column}, ${str(`"${property}":"((?:[^"\\\\]|\\\\.)*)"`)})`;
}

/** The same escaping JSON.stringify gave the stored properties, so a value compares with its stored form. */
export const jsonInner = (value: string): string => JSON.stringify(value).slice(1, -1);

/**
 * A decimal number, as a regular-expression source: an optional minus, digits, optionally a point and digits,
 * optionally an exponent (`12.5`, `-3`, `007`, `1e3`, `2.5E-4`). JSON's number syntax, plus leading zeros; no
 * spaces, plus sign, thousands separators, `.5`, `5.`, hex, `Infinity` or `NaN`.
 */
const decimalPattern = String.raw`-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?`;

/**
 * The number a JSON value has, as SQL: `has` whether it has one, `value` the number, meaningful only where `has`
 * holds (0 or a number prefix elsewhere: always read it under `has`). A value has a number when it is a JSON
 * number, or a JSON string whose whole content is a decimal number (`"12.5"`: PHP, spreadsheets and some GA4
 * dataLayers send numbers as strings, and PostHog's numeric filters read them). Not a missing property, `""`,
 * `"abc"`, `"12abc"`, `" 12"`, `"1,000"`, true, null, an object or an array, nor a string too big for a double
 * (`"1e400"`). The one rule of every numeric filter, trait comparison and sum, of person_events.revenue
 * (jobs/attribute_person_events.sql and migrations/042_numeric_string_revenue.sql spell out propertyNumberSql's), and
 * of the survey scores and web vitals the CX views read (views/080_cx.sql spells out propertyNumberSql's, views/090_web_vitals.sql rawNumberSql's of each metric's raw text).
 */
export interface JsonNumberSql {
  has: string;
  value: string;
}

/** `raw`: a JSON value's text, the collector's compact JSON (JSON.stringify), in which no digit of a string is escaped. */
const hasNumberSql = (raw: string, value: string): string => `(match(${raw}, ${str(`^(${decimalPattern}|"${decimalPattern}")$`)}) AND isFinite(${value}))`;

/**
 * The number of a JSON value's text `raw` (a trait token). toFloat64OrZero, not OrNull: a NULL would make
 * `NOT (… = x)` NULL, and 18.16's if() computes both branches anyway.
 */
export function rawNumberSql(raw: string): JsonNumberSql {
  const value = `toFloat64OrZero(replaceAll(${raw}, '"', ''))`;
  return { has: hasNumberSql(raw, value), value };
}

/**
 * The number of the first occurrence of `property` in `column` (JSON text). visitParamExtractFloat reads a JSON
 * number and a string holding one alike (it steps over the opening quote), and gives what rawNumberSql's
 * toFloat64OrZero gives for every text that has a number (checked on 18.16), in fewer syntax elements: a funnel of
 * 20 steps of 20 numeric filters has about 34,000 of ClickHouse's 50,000 (query/size.ts) instead of 48,000.
 */
export function propertyNumberSql(column: string, property: string): JsonNumberSql {
  const name = str(property);
  const value = `visitParamExtractFloat(${column}, ${name})`;
  return { has: hasNumberSql(`visitParamExtractRaw(${column}, ${name})`, value), value };
}

/** What a JSON value adds to a sum: its number, else 0. */
export const numberTermSql = (number: JsonNumberSql): string => `if(${number.has}, ${number.value}, 0)`;

/**
 * A numeric comparison of a JSON value's number with `value`: it holds only when the value has a number, and
 * `neq` is its negation ("not eq"), as for strings.
 */
export function numberComparisonSql(number: JsonNumberSql, op: Comparison, value: number): string {
  const holds = (comparison: Comparison) => `(${number.has} AND ${number.value} ${sqlComparison[comparison]} ${num(value)})`;
  return op === 'neq' ? `NOT ${holds('eq')}` : holds(op);
}

/**
 * A property filter as SQL over `column`. Strings match when any occurrence of the property (top level or
 * nested, e.g. products[].category) equals / contains the value; numbers compare the first occurrence, and
 * only when it has a number (JsonNumberSql: a JSON number, or a string such as "12.5").
 */
export function filterSql(filter: PropertyFilter, column = 'properties'): string {
  if (typeof filter.value === 'number') {
    return numberComparisonSql(propertyNumberSql(column, filter.property), filter.op as Comparison, filter.value);
  }
  const values = stringValuesSql(column, filter.property);
  const wanted = str(jsonInner(filter.value));
  if (filter.op === 'contains') return `arrayExists(v -> position(v, ${wanted}) > 0, ${values})`;
  return filter.op === 'neq' ? `NOT has(${values}, ${wanted})` : `has(${values}, ${wanted})`;
}

export const comparisonSql = (op: Comparison): string => sqlComparison[op];

/**
 * person_events restricted to `where`, as a FROM source. ClickHouse 18.16 does not push an outer WHERE into a
 * view, so the filter goes inside both parts of person_events (views/010_base.sql): the sorting key (event, …)
 * then skips other events, and properties are read only for the rows that match. `columns` are expressions
 * (computed inside the parts: 18.16 does not always see columns an outer HAVING needs through a UNION ALL).
 */
export function personEventsWhere(columns: readonly string[], where: string): string {
  const list = columns.join(', ');
  return `(SELECT ${list} FROM person_events_stored WHERE (${where}) AND node_key NOT IN (SELECT node_key FROM stale_nodes) UNION ALL SELECT ${list} FROM person_events_restated WHERE (${where}))`;
}
