// How far each person gets through a funnel, computed with array functions instead of windowFunnel, so that the
// answer is exact and the same on ClickHouse 18.16 and on modern versions (docs/analytics.md, "Funnel builder").
//
// windowFunnel cannot give that: on 18.16 it takes only DateTime or UInt32 times (a window of up to 366 days in ms
// does not fit UInt32), it orders events of one time differently on the two versions (18.16: in read order, i.e. by
// event name, the sorting key; 21.x+: in step order), and on modern versions one event that meets two steps'
// conditions completes both, so [Product Viewed, Product Viewed] counted everyone who viewed once at step 2.
//
// The meaning kept is windowFunnel's: a person's level is the furthest step any start reaches, each step a later
// event than the step before it (in event order: ms, then position in the batch), all within the window of the
// start (inclusive, in ms). It is computed level by level, keeping for each event that can be step k the latest
// start of a chain that reaches it: the latest start of the chains that reached step k-1 at an earlier event, if the
// event is within the window of it. The latest start is the best (any other chain's start is earlier, so it reaches
// no further); windowFunnel keeps the same.
//
// "The latest start at an earlier event" is a running maximum, which ClickHouse 18.16 has no function for (nor
// arrayFold or window functions). arrayCumSumNonNegative gives one: a running sum that restarts from 0 whenever it
// would go below 0 is, at each index, the sum so far minus the smallest sum so far (when that is below 0). Summing
// the differences of c = −x (so the sum so far is c itself) gives −x − min(−x so far) = max(x so far) − x, and
// adding x back gives the running maximum of x (for x ≥ 0: c starts at 0 here, so the smallest sum is ≤ 0). Levels
// are kept negated (c directly), 0 where an event is not at that level. O(n) per level, no sorting, no lookups.
// 18.16 loses columns a lambda captures when an outer query prunes columns, so every lambda takes its values as
// array arguments; one subquery per level keeps each level's SQL from being substituted into the next (aliases are
// expanded in place).

/** What funnelLevelsSql reads: `rows` has `person_key`, `event_order` (UInt64, ms · 65536 + batch position)
 *  and `step_mask` (bit k-1 set when the event meets step k's condition). */
export interface LevelsInput {
  rows: string;
  steps: number;
  windowMs: number;
}

const hit = (step: number): string => `bitAnd(x, ${2 ** (step - 1)}) != 0`;

/**
 * Level 1 of each event, as `neg_1`: −(the event's ms + 1) when it meets step 1, else 0 (so a start at epoch 0 is
 * still one). Persons without such an event are left out: they reach no step.
 */
function firstLevel(sequences: string): string {
  return `SELECT ms_1, mask_1, arrayMap((t, x) -> if(${hit(1)}, -1 - t, 0), ms_1, mask_1) AS neg_1, toUInt8(1) AS level_1 FROM (${sequences}) WHERE arrayExists(s -> s < 0, neg_1)`;
}

/**
 * Level `k` of each event (`all_k`): −(the latest start's ms + 1) of a chain reaching step k at it, or 0. The latest
 * start + 1 of level k-1 strictly before an event (b; 0: none) is the running maximum (see the header) of level
 * k-1's starts shifted one event later; the event reaches step k when it meets it (x: its mask) and is within the
 * window of b (t: its ms).
 */
function levelSql(k: number, windowMs: number): string {
  const shifted = `arrayPopBack(arrayPushFront(neg_${k - 1}, toInt64(0)))`;
  const reaches = `${hit(k)} AND r - c > 0 AND t + 1 - (r - c) <= ${windowMs}`;
  return `arrayMap((r, c, t, x) -> if(${reaches}, c - r, 0), arrayCumSumNonNegative(arrayDifference(${shifted} AS shifted_${k})), shifted_${k}, ms_${k - 1}, mask_${k - 1})`;
}

/**
 * Level `k` as `neg_k`, over the events that still matter: those at level k (later steps' starts) and those meeting
 * a later step. The others can be no later step, and dropping them keeps the next levels' arrays short (a funnel
 * that starts with every page view leaves them all behind here).
 */
function nextLevel(k: number, windowMs: number, prior: string): string {
  const kept = (values: string): string => `arrayFilter((v, keep) -> keep, ${values}, keep_${k}) AS`;
  return (
    `SELECT ${kept(`ms_${k - 1}`)} ms_${k}, ${kept(`mask_${k - 1}`)} mask_${k}, ${kept(`all_${k}`)} neg_${k}, level_${k - 1} + arrayExists(s -> s < 0, all_${k}) AS level_${k} FROM (` +
    `SELECT ms_${k - 1}, mask_${k - 1}, level_${k - 1}, ${levelSql(k, windowMs)} AS all_${k}, arrayMap((s, x) -> s < 0 OR x >= ${2 ** k}, all_${k}, mask_${k - 1}) AS keep_${k} FROM (${prior}))`
  );
}

/** The last level needs no starts, only whether any event reaches it. */
function lastLevel(k: number, windowMs: number, prior: string): string {
  return `SELECT level_${k - 1} + arrayExists(s -> s < 0, ${levelSql(k, windowMs)}) AS level FROM (${prior})`;
}

/** SQL of one row per person who met step 1, with `level` (1 … steps): how far the person got. */
export function funnelLevelsSql({ rows, steps, windowMs }: LevelsInput): string {
  // Each person's events in event order: their ms and step masks. Two events of one ms and batch position (sent in
  // two requests) come in step order (by mask); events equal in both are interchangeable. Arrays of numbers, which
  // groupArray keeps far cheaper than tuples.
  const sequences =
    `SELECT arrayMap(o -> intDiv(o, 65536), arraySort(orders)) AS ms_1, arraySort((m, o) -> (o, m), masks, orders) AS mask_1 FROM (` +
    `SELECT groupArray(toInt64(event_order)) AS orders, groupArray(step_mask) AS masks FROM ${rows} GROUP BY person_key)`;
  let sql = firstLevel(sequences);
  if (steps === 1) return `SELECT level_1 AS level FROM (${sql})`;
  for (let k = 2; k < steps; k++) sql = nextLevel(k, windowMs, sql);
  return lastLevel(steps, windowMs, sql);
}
