// Pure tests of the SQL builders: refusals name the rule path; hostile strings only ever appear inside
// escaped literals.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { numberTermSql, propertyNumberSql, QueryInputError, rawNumberSql } from './conditions';
import { compileFunnel, parseFunnelQuery } from './funnel';
import { dt, LiteralError, num, str } from './literal';
import { compileSegmentRule, parseSegmentRule } from './segment-rules';
import { maxQueryBytes, querySizeProblem, syntaxElements } from './size';

const hostile = ["'; DROP TABLE events; --", "\\'); SELECT 1 --", 'a\\', "x' OR 1=1 OR event='", '{name:String}', '"},"x":"'];

function refusal(run: () => unknown): { path: string; message: string } {
  try {
    run();
  } catch (error) {
    if (error instanceof QueryInputError) return { path: error.path, message: error.message };
    throw error;
  }
  throw new Error('expected a refusal');
}

/** Removes every well-formed single-quoted literal; what is left must not contain any hostile text. */
const outsideLiterals = (sql: string): string => sql.replace(/'(?:[^'\\]|\\.)*'/g, "''");

describe('literal escaper', () => {
  it('escapes backslashes and quotes so the literal ends where it should', () => {
    expect(str("it's")).toBe("'it\\'s'");
    expect(str('a\\')).toBe("'a\\\\'");
    for (const value of hostile) expect(outsideLiterals(str(value))).toBe("''");
  });

  it('refuses numbers and times ClickHouse 18.16 cannot read (a bug if reached: validation refuses them first)', () => {
    for (const value of [1e-310, -5e-324, Number.NaN, Infinity]) expect(() => num(value)).toThrow(LiteralError);
    expect([num(0), num(2.2250738585072014e-308), num(-1.5e300)]).toEqual(['0', '2.2250738585072014e-308', '-1.5e+300']);
    for (const ms of [-1000, Date.UTC(2106, 0, 1), Date.parse('+275760-09-13T00:00:00Z'), Number.NaN]) expect(() => dt(ms)).toThrow(LiteralError);
    expect(dt(Date.UTC(2105, 11, 31, 23, 59, 59))).toBe("toDateTime('2105-12-31 23:59:59', 'UTC')");
  });
});

describe('numbers in rules and filters', () => {
  it('refuse subnormal values (18.16 cannot parse them) wherever a number is read, naming the path', () => {
    expect(refusal(() => parseSegmentRule({ metric: 'ltv', op: 'gt', value: 5e-324 }))).toEqual({
      path: 'rule.value',
      message: 'rule.value: must be 0 or at least 2.2250738585072014e-308 in size (ClickHouse 18.16 cannot read subnormal numbers)',
    });
    expect(refusal(() => parseSegmentRule({ trait: 'age', op: 'lt', value: -1e-310 })).path).toBe('rule.value');
    expect(refusal(() => parseSegmentRule({ event: 'x', sum: { property: 'revenue', op: 'gt', value: 1e-320 } })).path).toBe('rule.sum.value');
    expect(refusal(() => parseFunnelQuery({ steps: [{ event: 'x', where: [{ property: 'p', op: 'gt', value: 1e-310 }] }], windowSeconds: 60 })).path).toBe('funnel.steps[0].where[0].value');
    expect(parseSegmentRule({ any: [{ metric: 'ltv', op: 'gt', value: 0 }, { metric: 'ltv', op: 'gt', value: 2.2250738585072014e-308 }] })).toBeTruthy();
  });
});

describe('the number of a JSON value', () => {
  it('is one reading for filters, sums, and the revenue the value views read (the job and migration 042 spell it out)', () => {
    const revenue = propertyNumberSql('properties', 'revenue');
    const sqlFile = (path: string) => readFileSync(new URL(`../sql/${path}`, import.meta.url), 'utf8');
    for (const file of [sqlFile('jobs/attribute_person_events.sql'), sqlFile('migrations/042_numeric_string_revenue.sql')]) {
      expect(file).toContain(numberTermSql(revenue));
      expect(file).toContain(revenue.has);
    }
    expect(compileSegmentRule(parseSegmentRule({ event: 'Order Completed', sum: { property: 'revenue', op: 'gt', value: 1 } }), 0)).toContain(`${numberTermSql(revenue)} AS amount`);
  });

  it('is the reading of the CX and web-vitals views (080_cx.sql and 090_web_vitals.sql spell it out)', () => {
    const sqlFile = (path: string) => readFileSync(new URL(`../sql/${path}`, import.meta.url), 'utf8');
    const cx = sqlFile('views/080_cx.sql');
    const score = propertyNumberSql('properties', 'score');
    // An answer without a numeric score is no answer; the score is read only under that condition.
    expect(cx).toContain(`${score.value} AS score`);
    expect(cx).toContain(`WHERE ${score.has}`);
    for (const scale of ['scale_min', 'scale_max']) expect(cx).toContain(`${numberTermSql(propertyNumberSql('properties', scale))} AS ${scale}`);
    const vitals = sqlFile('views/090_web_vitals.sql');
    for (const metric of ['lcp', 'inp', 'cls']) {
      // One JSON scan per metric: its raw text, then rawNumberSql of it (the same rule as propertyNumberSql).
      const number = rawNumberSql(`${metric}_raw`);
      expect(vitals).toContain(`visitParamExtractRaw(properties, '${metric}') AS ${metric}_raw`);
      expect(vitals).toContain(`${number.has} AS ${metric}_given`);
      expect(vitals).toContain(`${number.value} AS ${metric}_value`);
      expect(vitals).toContain(`countIf(${metric}_given) AS ${metric}_samples`);
      expect(vitals).toContain(`quantileExactIf(0.75)(${metric}_value, ${metric}_given) AS ${metric}_p75_raw`);
    }
    expect(vitals).not.toContain('visitParamHas(properties, \'lcp\')');
  });
});

describe('segment rules', () => {
  it('refuse unknown fields, wrong types, bad names and control characters, naming the rule path', () => {
    expect(refusal(() => parseSegmentRule({ all: [{ event: 'x', colour: 'red' }] })).path).toBe('rule.all[0].colour');
    expect(refusal(() => parseSegmentRule({ all: [{ event: 'x', count: { op: 'gte', value: '1' } }] })).path).toBe('rule.all[0].count.value');
    expect(refusal(() => parseSegmentRule({ any: [{ trait: "plan' OR 1", op: 'eq', value: 'x' }] })).path).toBe('rule.any[0].trait');
    expect(refusal(() => parseSegmentRule({ not: { event: 'x', where: [{ property: 'a"b', op: 'eq', value: 'x' }] } })).path).toBe('rule.not.where[0].property');
    expect(refusal(() => parseSegmentRule({ event: 'a\u0000b' })).path).toBe('rule.event');
    expect(refusal(() => parseSegmentRule({ metric: 'ltv', op: 'like', value: 1 })).path).toBe('rule.op');
    expect(refusal(() => parseSegmentRule({ metric: 'revenue', op: 'gt', value: 1 })).path).toBe('rule.metric');
    expect(refusal(() => parseSegmentRule({ event: 'x', where: [{ property: 'price', op: 'gt', value: 'cheap' }] })).message).toMatch(/^rule\.where\[0\]\.value: gt compares numbers/);
    expect(refusal(() => parseSegmentRule({ all: [] })).path).toBe('rule.all');
    expect(refusal(() => parseSegmentRule('everyone')).path).toBe('rule');
  });

  it('name every op an error allows: filters and traits also take contains, traits exists', () => {
    expect(refusal(() => parseSegmentRule({ event: 'x', where: [{ property: 'p', op: 'like', value: 'a' }] }))).toEqual({
      path: 'rule.where[0].op',
      message: 'rule.where[0].op: must be one of eq, neq, gt, gte, lt, lte, contains',
    });
    expect(refusal(() => parseFunnelQuery({ steps: [{ event: 'x', where: [{ property: 'p', op: 'is', value: 'a' }] }], windowSeconds: 60 })).message).toBe(
      'funnel.steps[0].where[0].op: must be one of eq, neq, gt, gte, lt, lte, contains',
    );
    expect(refusal(() => parseSegmentRule({ trait: 'plan', op: 'like', value: 'a' }))).toEqual({ path: 'rule.op', message: 'rule.op: must be one of eq, neq, gt, gte, lt, lte, contains, exists' });
    // Counts, sums and metrics compare numbers only.
    expect(refusal(() => parseSegmentRule({ metric: 'ltv', op: 'contains', value: 1 })).message).toBe('rule.op: must be one of eq, neq, gt, gte, lt, lte');
  });

  it('refuse a value given to exists, naming it, rather than dropping it', () => {
    expect(refusal(() => parseSegmentRule({ trait: 'plan', op: 'exists', value: 3 }))).toEqual({ path: 'rule.value', message: 'rule.value: exists takes no value' });
    expect(parseSegmentRule({ trait: 'plan', op: 'exists' })).toEqual({ trait: 'plan', op: 'exists' });
  });

  it('take a trait as a top-level name or one level into an object (company.plan), and refuse other paths', () => {
    expect(parseSegmentRule({ trait: 'company.plan', op: 'eq', value: 'pro' })).toEqual({ trait: 'company.plan', op: 'eq', value: 'pro' });
    for (const trait of ['a.b.c', 'a.', '.a', 'a..b', 'a.1b', 'company.plan\'']) {
      expect(refusal(() => parseSegmentRule({ trait, op: 'exists' })), trait).toEqual({
        path: 'rule.trait',
        message: 'rule.trait: must be a name of letters, digits and _ (at most 64), starting with a letter or _, or two such names joined by a dot (company.plan)',
      });
    }
  });

  it('compile hostile values into escaped literals only', () => {
    for (const value of hostile) {
      const rule = parseSegmentRule({
        any: [
          { trait: 'plan', op: 'eq', value },
          { trait: 'plan', op: 'contains', value },
          { event: value, where: [{ property: 'category', op: 'eq', value }, { property: 'category', op: 'contains', value }] },
        ],
      });
      const sql = compileSegmentRule(rule, Date.UTC(2026, 0, 1));
      expect(outsideLiterals(sql)).not.toContain('DROP');
      expect(outsideLiterals(sql)).not.toContain('OR 1=1');
      expect(outsideLiterals(sql)).not.toContain('{name');
    }
  });
});

describe('funnel queries', () => {
  it('refuse no steps, a negative or fractional window, unknown fields and bad dates', () => {
    expect(refusal(() => parseFunnelQuery({ steps: [], windowSeconds: 60 })).path).toBe('funnel.steps');
    expect(refusal(() => parseFunnelQuery({ steps: [{ event: 'a' }], windowSeconds: -5 })).path).toBe('funnel.windowSeconds');
    expect(refusal(() => parseFunnelQuery({ steps: [{ event: 'a' }], windowSeconds: 1.5 })).path).toBe('funnel.windowSeconds');
    expect(refusal(() => parseFunnelQuery({ steps: [{ event: 'a', filter: 1 }], windowSeconds: 60 })).path).toBe('funnel.steps[0].filter');
    expect(refusal(() => parseFunnelQuery({ steps: [{ event: 'a' }], windowSeconds: 60, from: 'yesterday' })).path).toBe('funnel.from');
  });

  it('take from/to only as ISO-8601 date-times, zone-less ones as UTC whatever the machine zone', () => {
    const query = (from: string) => parseFunnelQuery({ steps: [{ event: 'a' }], windowSeconds: 60, from });
    // Date.parse reads "1" as 2001-01-01 and "November 23, 2026 10:00" as local time.
    for (const from of ['1', 'November 23, 2026 10:00', '2026-02-30', '2026-11-23T10:00:00 PST']) {
      expect(refusal(() => query(from)), from).toEqual({ path: 'funnel.from', message: 'funnel.from: must be an ISO-8601 date-time, such as 2026-11-23T10:00:00Z' });
    }
    const zone = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      expect(query('2026-11-23 10:00:00').from).toBe(Date.UTC(2026, 10, 23, 10));
      expect(query('2026-11-23T10:00').from).toBe(Date.UTC(2026, 10, 23, 10));
      expect(query('2026-11-23').from).toBe(Date.UTC(2026, 10, 23));
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it('refuse dates a ClickHouse DateTime cannot hold (before 1970, from 2106, six-digit years), naming the field', () => {
    const query = (from: string, to?: string) => parseFunnelQuery({ steps: [{ event: 'a' }], windowSeconds: 60, from, ...(to ? { to } : {}) });
    for (const from of ['+275760-09-13T00:00:00Z', '-000001-01-01T00:00:00Z', '+010000-01-01T00:00:00Z', '1969-12-31T23:59:59Z', '2106-01-01T00:00:00Z']) {
      expect(refusal(() => query(from)), from).toEqual({ path: 'funnel.from', message: 'funnel.from: must be a time from 1970-01-01T00:00:00Z to 2105-12-31T23:59:59Z' });
    }
    expect(refusal(() => query('2000-01-01T00:00:00Z', '+275760-09-13T00:00:00Z')).path).toBe('funnel.to');
    expect(query('1970-01-01T00:00:00Z', '2105-12-31T23:59:59Z')).toMatchObject({ from: 0, to: Date.UTC(2105, 11, 31, 23, 59, 59) });
  });

  it('compile hostile event names and sources into escaped literals only', () => {
    for (const value of hostile) {
      const sql = compileFunnel(parseFunnelQuery({ steps: [{ event: value }, { event: '$page', where: [{ property: 'path', op: 'eq', value }] }], windowSeconds: 60, source: value }));
      expect(outsideLiterals(sql)).not.toContain('DROP');
      expect(outsideLiterals(sql)).not.toContain('OR 1=1');
    }
  });
});

/** 20 property filters on `value` (each filter of a funnel step or an event rule appears twice in its SQL). */
const twentyFilters = (value: string, op = 'contains') => Array.from({ length: 20 }, (_, j) => ({ property: `p${j}`.padEnd(64, '_'), op, value }));
/** 500 lone surrogates: the longest escaping the limits allow (JSON `\ud800`, then SQL `\\ud800`: 7 bytes each). */
const worstValue = '\ud800'.repeat(500);

describe('query size (ClickHouse refuses a query past max_query_size or max_ast_elements)', () => {
  it('accepts a funnel at the documented limits: 20 steps of 20 filters of 500 characters, the worst to escape', () => {
    for (const op of ['contains', 'eq', 'neq']) {
      const query = parseFunnelQuery({ steps: Array.from({ length: 20 }, () => ({ event: worstValue, where: twentyFilters(worstValue, op) })), windowSeconds: 60, source: worstValue });
      const sql = compileFunnel(query);
      // Past the default 256 KiB, within what funnels are sent with.
      expect(Buffer.byteLength(sql)).toBeGreaterThan(2_900_000);
      expect(Buffer.byteLength(sql)).toBeLessThan(maxQueryBytes);
      expect(querySizeProblem(sql)).toBeUndefined();
    }
  });

  it('accepts the audit’s segment of 13 rules of 20 filters of 500 characters (past the default 256 KiB)', () => {
    const rule = parseSegmentRule({ any: Array.from({ length: 13 }, () => ({ event: 'Order Completed', where: twentyFilters('c'.repeat(500)) })) });
    expect(Buffer.byteLength(compileSegmentRule(rule, Date.UTC(2026, 0, 1)))).toBeGreaterThan(256 * 1024);
  });

  it('refuses a segment rule whose SQL would be too long or have too many elements, naming the rule', () => {
    const long = refusal(() => parseSegmentRule({ any: Array.from({ length: 50 }, () => ({ event: 'x', where: twentyFilters(worstValue) })) }));
    expect(long).toEqual({ path: 'rule', message: expect.stringMatching(/^rule: its SQL would be [\d,]+ bytes long, more than the 4,190,208 a query may have/) });
    // 2,500 rules of a few bytes each: short SQL, but about 180,000 syntax elements.
    const many = { any: Array.from({ length: 50 }, (_, i) => ({ any: Array.from({ length: 50 }, (_, j) => ({ event: `e${i}.${j}` })) })) };
    expect(refusal(() => parseSegmentRule(many))).toEqual({ path: 'rule', message: expect.stringMatching(/^rule: its SQL would have up to [\d,]+ syntax elements, more than the 49,500/) });
    expect(refusal(() => parseSegmentRule(many, 'segment.rule')).path).toBe('segment.rule');
  });

  it('counts syntax elements of literals, names, numbers, operators and brackets, not of commas or spaces', () => {
    // 'a\'b', f, (, x, >=, 1.5e-3, AND, y: 8 tokens, each counted 1.5 times.
    expect(syntaxElements("f('a\\'b', x) >= 1.5e-3 AND y")).toBe(12);
  });
});
