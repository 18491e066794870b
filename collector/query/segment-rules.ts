// The segment rule language: JSON, validated into typed rules, compiled to one ClickHouse query that
// returns the person_id of every member. See docs/analytics.md for the language.
import {
  comparisonSql,
  numberComparisonSql,
  numberTermSql,
  propertyNumberSql,
  rawNumberSql,
  eventMatchSql,
  filterSql,
  isRecord,
  jsonInner,
  namePattern,
  personEventsWhere,
  onlyFields,
  QueryInputError,
  readComparison,
  readFilters,
  readName,
  readNumber,
  readText,
  type Comparison,
  type PropertyFilter,
} from './conditions';
import { dt, num, str } from './literal';
import { querySizeProblem } from './size';

export const metrics = [
  'ltv',
  'orders',
  'days_since_first_seen',
  'days_since_last_seen',
  'days_since_last_order',
  'hours_since_last_cart_add',
  'ordered_since_last_cart_add',
] as const;
export type Metric = (typeof metrics)[number];

export type SegmentRule =
  | { all: SegmentRule[] }
  | { any: SegmentRule[] }
  | { not: SegmentRule }
  // `trait`: a top-level trait, or `parent.child` one level into an object trait (Segment's company, address).
  | { trait: string; op: Comparison | 'contains' | 'exists'; value?: string | number }
  | { event: string; where: PropertyFilter[]; withinDays?: number; count?: { op: Comparison; value: number }; sum?: { property: string; op: Comparison; value: number } }
  | { metric: Metric; op: Comparison; value: number }
  | { top: { metric: 'ltv'; percent: number } };

const kinds = ['all', 'any', 'not', 'trait', 'event', 'metric', 'top'] as const;
const maxDepth = 12;

const traitPathShape = new RegExp(`^${namePattern}(?:\\.${namePattern})?$`);

/** A trait: a name, or two joined by a dot (company.plan). Names are plain, so safe in any literal or pattern. */
function readTraitPath(value: unknown, path: string): string {
  if (typeof value !== 'string' || !traitPathShape.test(value)) {
    throw new QueryInputError(path, 'must be a name of letters, digits and _ (at most 64), starting with a letter or _, or two such names joined by a dot (company.plan)');
  }
  return value;
}

function readRule(raw: unknown, path: string, depth: number): SegmentRule {
  if (depth > maxDepth) throw new QueryInputError(path, `rules nest at most ${maxDepth} deep`);
  if (!isRecord(raw)) throw new QueryInputError(path, 'must be an object');
  const kind = kinds.find((k) => k in raw);
  if (!kind) throw new QueryInputError(path, `must have one of ${kinds.join(', ')}`);
  if (kind === 'all' || kind === 'any') {
    onlyFields(raw, [kind], path);
    const list = raw[kind];
    if (!Array.isArray(list) || list.length === 0 || list.length > 50) throw new QueryInputError(`${path}.${kind}`, 'must be an array of 1 to 50 rules');
    const rules = list.map((r, i) => readRule(r, `${path}.${kind}[${i}]`, depth + 1));
    return kind === 'all' ? { all: rules } : { any: rules };
  }
  if (kind === 'not') {
    onlyFields(raw, ['not'], path);
    return { not: readRule(raw.not, `${path}.not`, depth + 1) };
  }
  if (kind === 'trait') {
    onlyFields(raw, ['trait', 'op', 'value'], path);
    const trait = readTraitPath(raw.trait, `${path}.trait`);
    const op = readComparison(raw.op, `${path}.op`, ['contains', 'exists'] as const);
    if (op === 'exists') {
      if (raw.value !== undefined) throw new QueryInputError(`${path}.value`, 'exists takes no value');
      return { trait, op };
    }
    const value = typeof raw.value === 'number' ? readNumber(raw.value, `${path}.value`) : readText(raw.value, `${path}.value`);
    if (typeof value === 'string' && !['eq', 'neq', 'contains'].includes(op)) throw new QueryInputError(`${path}.value`, `${op} compares numbers; give a number`);
    if (typeof value === 'number' && op === 'contains') throw new QueryInputError(`${path}.value`, 'contains needs a string');
    return { trait, op, value };
  }
  if (kind === 'event') {
    onlyFields(raw, ['event', 'where', 'withinDays', 'count', 'sum'], path);
    const rule: SegmentRule = { event: readText(raw.event, `${path}.event`), where: readFilters(raw.where, `${path}.where`) };
    if (raw.withinDays !== undefined) rule.withinDays = readNumber(raw.withinDays, `${path}.withinDays`, { min: 0.001, max: 3650 });
    if (raw.count !== undefined && raw.sum !== undefined) throw new QueryInputError(path, 'give count or sum, not both');
    if (raw.count !== undefined) {
      if (!isRecord(raw.count)) throw new QueryInputError(`${path}.count`, 'must be an object {op, value}');
      onlyFields(raw.count, ['op', 'value'], `${path}.count`);
      rule.count = { op: readComparison(raw.count.op, `${path}.count.op`), value: readNumber(raw.count.value, `${path}.count.value`, { min: 0, max: 1e9, integer: true }) };
    }
    if (raw.sum !== undefined) {
      if (!isRecord(raw.sum)) throw new QueryInputError(`${path}.sum`, 'must be an object {property, op, value}');
      onlyFields(raw.sum, ['property', 'op', 'value'], `${path}.sum`);
      rule.sum = { property: readName(raw.sum.property, `${path}.sum.property`), op: readComparison(raw.sum.op, `${path}.sum.op`), value: readNumber(raw.sum.value, `${path}.sum.value`) };
    }
    return rule;
  }
  if (kind === 'metric') {
    onlyFields(raw, ['metric', 'op', 'value'], path);
    if (typeof raw.metric !== 'string' || !(metrics as readonly string[]).includes(raw.metric)) {
      throw new QueryInputError(`${path}.metric`, `must be one of ${metrics.join(', ')}`);
    }
    return { metric: raw.metric as Metric, op: readComparison(raw.op, `${path}.op`), value: readNumber(raw.value, `${path}.value`) };
  }
  onlyFields(raw, ['top'], path);
  if (!isRecord(raw.top)) throw new QueryInputError(`${path}.top`, 'must be an object {metric, percent}');
  onlyFields(raw.top, ['metric', 'percent'], `${path}.top`);
  if (raw.top.metric !== 'ltv') throw new QueryInputError(`${path}.top.metric`, 'must be ltv');
  return { top: { metric: 'ltv', percent: readNumber(raw.top.percent, `${path}.top.percent`, { min: 0.001, max: 100 }) } };
}

/** Any time: compiled SQL has the same size at every time a DateTime holds (withinDays reaches 10 years back). */
const sizeCheckTime = Date.UTC(2100, 0, 1);

/**
 * Validates a rule; throws QueryInputError naming the path (`rule...`) of the first problem, or the rule's own
 * path when its SQL would be too big for ClickHouse (query/size.ts): a saved segment must be one that can be
 * materialised, and one saved before this check shows as invalid.
 */
export function parseSegmentRule(raw: unknown, path = 'rule'): SegmentRule {
  const rule = readRule(raw, path, 0);
  const problem = querySizeProblem(compileSegmentRule(rule, sizeCheckTime));
  if (problem) throw new QueryInputError(path, problem);
  return rule;
}

// Order metrics come from person_order_totals (collector/sql/views/015_orders.sql): one order per order_id,
// refunds matched to their order. A person without orders or refunds is not in it: 0 orders, LTV 0.
const orderTotals = (where: string) => `(SELECT person_key FROM person_order_totals WHERE ${where})`;

function sinceSql(time: string, asOf: string, unitSeconds: number): string {
  return `((toInt64(toUInt32(${asOf})) - toInt64(toUInt32(${time}))) / ${unitSeconds})`;
}

/** Persons whose latest cart add is after their latest order (or who never ordered): ordered_since_last_cart_add = 0. */
const addedSinceLastOrder =
  `(SELECT person_key FROM (SELECT person_key, max(timestamp) AS last_add FROM ${personEventsWhere(['person_key', 'timestamp'], "event = 'Product Added'")} GROUP BY person_key)` +
  ' ANY LEFT JOIN (SELECT person_key, last_order_at FROM person_order_totals) USING person_key WHERE last_add > last_order_at)';

function metricSql(metric: Exclude<Metric, 'ltv' | 'orders' | 'days_since_last_order'>, asOf: string): string {
  switch (metric) {
    case 'days_since_first_seen':
      return sinceSql('min(timestamp)', asOf, 86_400);
    case 'days_since_last_seen':
      return sinceSql('max(timestamp)', asOf, 86_400);
    case 'hours_since_last_cart_add':
      return sinceSql("maxIf(timestamp, event = 'Product Added')", asOf, 3600);
    case 'ordered_since_last_cart_add':
      return `toUInt8(person_key NOT IN ${addedSinceLastOrder})`;
  }
}

/**
 * The event a "since the last …" metric counts from: a person who never had one has no value, so matches no
 * comparison. Whether one ordered since the last cart add does not arise for one who never added to a cart.
 */
const sinceLast: Partial<Record<Metric, string>> = { hours_since_last_cart_add: 'Product Added', ordered_since_last_cart_add: 'Product Added' };

/**
 * The tokens of a traits JSON text (JSON.stringify's, without spaces): strings (a key with its colon), brackets,
 * and other scalars. Brackets inside strings stay inside string tokens, so they do not count as nesting.
 * visitParamHas / visitParamExtractRaw find a key at any depth, the first in the text winning, so Segment's
 * reserved company.plan or address.city would answer for plan or city; 18.16 has no JSONExtract. The depth of
 * each token (the running count of open brackets) tells a top-level key (depth 1) from a nested one.
 */
const traitTokenPattern = String.raw`"(?:[^"\\]|\\.)*":?|[{}\[\]]|[^,:{}\[\]"]+`;
const traitColumns = [
  // Flat traits (no object or array after the opening brace, the usual identify) have every key at depth 1, where
  // visitParamExtractRaw is exact: only the others are tokenised (about 1.5x faster at 1M events, bench data).
  // 18.16 computes both branches of if(), hence the tokens of '' for flat traits rather than a branch.
  "position(substring(traits, 2), '{') = 0 AND position(traits, '[') = 0 AS trait_flat",
  `extractAll(if(trait_flat, '', traits), ${str(traitTokenPattern)}) AS trait_tokens`,
  "arrayCumSum(arrayMap(x -> x IN ('{', '[') ? 1 : (x IN ('}', ']') ? -1 : 0), trait_tokens)) AS trait_depths",
];

/**
 * The position of `trait`'s key token in trait_tokens, 0 if absent. For `parent.child`, the child is looked for
 * from the parent's value on, at depth 2, up to the first token back at depth 1 (the end of the parent's value).
 */
function traitKeySql(trait: string): string {
  const [parent = '', child] = trait.split('.');
  const top = `arrayFirstIndex((x, y) -> x = ${str(`"${parent}":`)} AND y = 1, trait_tokens, trait_depths)`;
  if (child === undefined) return top;
  const key = str(`"${child}":`);
  const at = `(trait_parent + arrayFirstIndex((x, y) -> (x = ${key} AND y = 2) OR y < 2, arraySlice(trait_tokens, trait_parent + 1), arraySlice(trait_depths, trait_parent + 1)))`;
  return `if((${top} AS trait_parent) > 0 AND trait_tokens[${at} AS trait_child] = ${key} AND trait_depths[trait_child] = 2, trait_child, 0)`;
}

/**
 * The persons whose latest value of the trait passes `having` (over `latest`, its JSON text), or who have it
 * at all without `having`. Only identify events that mention the key anywhere are read (visitParamHas, cheap),
 * and tokenised: the person_events subquery keeps the sorting key's skipping, as event rules do.
 */
function traitPersons(trait: string, having?: (latest: string) => string): string {
  const names = trait.split('.');
  const [name = '', child] = names;
  const mentions = names.map((each) => `visitParamHas(traits, ${str(each)})`).join(' AND ');
  // Latest in event order (views/030_sessions.sql): ms, then position in the batch, as profiles.latest_traits.
  const identifies = personEventsWhere(['person_key', 'timestamp_ms * 65536 + batch_position AS trait_order', 'traits'], `type = 'identify' AND ${mentions}`);
  // Tokenised once, outside the two parts of person_events: half the SQL.
  // Flat traits have no parent.child, and the key (they mention it) at depth 1.
  const value = child === undefined ? `if(trait_flat, visitParamExtractRaw(traits, ${str(name)}), trait_tokens[trait_at + 1])` : 'trait_tokens[trait_at + 1]';
  const found = child === undefined ? 'trait_flat OR trait_at > 0' : 'NOT trait_flat AND trait_at > 0';
  const rows = `SELECT person_key, trait_order, ${traitColumns.join(', ')}, ${traitKeySql(trait)} AS trait_at, ${value} AS trait_value FROM ${identifies} WHERE ${found}`;
  return having ? `(SELECT person_key FROM (${rows}) GROUP BY person_key HAVING ${having('argMax(trait_value, trait_order)')})` : `(SELECT person_key FROM (${rows}))`;
}

/** The latest value of a trait (from identify), compared; see docs/analytics.md. */
function traitSql(rule: Extract<SegmentRule, { trait: string }>): string {
  if (rule.op === 'exists') return `(person_key IN ${traitPersons(rule.trait)})`;
  const value = rule.value as string | number;
  // contains reads strings only: the latest value's JSON text opens with a quote (a number 30 holds no text "3").
  if (rule.op === 'contains') return `(person_key IN ${traitPersons(rule.trait, (latest) => `substring(${latest}, 1, 1) = '"' AND position(${latest}, ${str(jsonInner(value as string))}) > 0`)})`;
  // Numbers compare a JSON number or a string holding one ("30", JsonNumberSql); strings the JSON text of a string.
  const test = (op: Comparison) => (latest: string) =>
    typeof value === 'number' ? numberComparisonSql(rawNumberSql(latest), op, value) : `${latest} ${comparisonSql(op)} ${str(JSON.stringify(value))}`;
  // neq is "not eq": it also holds for persons who never had the trait (as PostHog's "is not").
  const op = rule.op as Comparison;
  return op === 'neq' ? `(person_key NOT IN ${traitPersons(rule.trait, test('eq'))})` : `(person_key IN ${traitPersons(rule.trait, test(op))})`;
}

/** The boolean aggregate expression of a rule, over person_events grouped by person. */
function ruleSql(rule: SegmentRule, asOfMs: number): string {
  const asOf = dt(asOfMs);
  if ('all' in rule) return `(${rule.all.map((r) => ruleSql(r, asOfMs)).join(' AND ')})`;
  if ('any' in rule) return `(${rule.any.map((r) => ruleSql(r, asOfMs)).join(' OR ')})`;
  if ('not' in rule) return `(NOT ${ruleSql(rule.not, asOfMs)})`;
  if ('trait' in rule) return traitSql(rule);
  if ('metric' in rule) {
    const metric = rule.metric;
    const test = (value: string) => `${value} ${comparisonSql(rule.op)} ${num(rule.value)}`;
    if (metric === 'ltv' || metric === 'orders') {
      const column = metric === 'ltv' ? 'net_revenue' : 'orders';
      // Persons outside person_order_totals have 0: when 0 passes, "not among those who fail".
      return compare(0, rule.op, rule.value) ? `(person_key NOT IN ${orderTotals(`NOT (${test(column)})`)})` : `(person_key IN ${orderTotals(test(column))})`;
    }
    if (metric === 'days_since_last_order') return `(person_key IN ${orderTotals(`orders > 0 AND ${test(sinceSql('last_order_at', asOf, 86_400))}`)})`;
    const last = sinceLast[metric];
    const own = test(metricSql(metric, asOf));
    return last === undefined ? `(${own})` : `(countIf(event = ${str(last)}) > 0 AND ${own})`;
  }
  if ('top' in rule) {
    const level = num(1 - rule.top.percent / 100);
    return `(person_key IN ${orderTotals(`orders > 0 AND net_revenue >= (SELECT quantileExact(${level})(net_revenue) FROM person_order_totals WHERE orders > 0)`)})`;
  }
  const conditions = [eventMatchSql(rule.event), ...rule.where.map((f) => filterSql(f))];
  if (rule.withinDays !== undefined) {
    conditions.push(`timestamp > ${dt(asOfMs - rule.withinDays * 86_400_000)}`, `timestamp <= ${asOf}`);
  }
  const match = conditions.join(' AND ');
  const total = rule.sum ? 'sum(amount)' : 'count()';
  const { op, value } = rule.sum ?? rule.count ?? { op: 'gte', value: 1 };
  const test = `${total} ${comparisonSql(op)} ${num(value)}`;
  // The matching events are read on their own (the sorting key skips other events, and properties are
  // parsed only for those), as the set of persons whose total passes. A person without matching events has
  // a total of 0: when 0 passes the test, the rule is "not among those whose total fails it".
  const persons = (having: string) =>
    `(SELECT person_key FROM ${personEventsWhere(['person_key', ...(rule.sum ? [`${numberTermSql(propertyNumberSql('properties', rule.sum.property))} AS amount`] : [])], match)} GROUP BY person_key HAVING ${having})`;
  return compare(0, op, value) ? `(person_key NOT IN ${persons(`NOT (${test})`)})` : `(person_key IN ${persons(test)})`;
}

function compare(left: number, op: Comparison, right: number): boolean {
  switch (op) {
    case 'eq':
      return left === right;
    case 'neq':
      return left !== right;
    case 'gt':
      return left > right;
    case 'gte':
      return left >= right;
    case 'lt':
      return left < right;
    case 'lte':
      return left <= right;
  }
}

/** SQL returning `person_id` of every person the rule selects, evaluated at `asOfMs` (epoch ms). */
export function compileSegmentRule(rule: SegmentRule, asOfMs: number): string {
  // Grouped by person_key (a UInt64, much faster than the string on 18.16); any(person_id) names the person.
  // Persons only: an event stored without ids (event:<message_id>, views/010_base.sql) is no one to target. The
  // rule's own subqueries need no such filter: they only test the persons this outer query keeps.
  return `SELECT member AS person_id FROM (SELECT any(person_id) AS member FROM person_events WHERE person_id NOT LIKE 'event:%' GROUP BY person_key HAVING ${ruleSql(rule, asOfMs)})`;
}
