// An independent TypeScript computation of every analyst view and built-in segment, over the generated
// events and the generator's truth about who is who. Tests compare the warehouse against it.
import type { EventRow } from '../../collector/ingest/normalize';

export interface RefEvent {
  person: string;
  messageId: string;
  source: string;
  type: string;
  event: string;
  /** Epoch seconds (the skew-corrected timestamp). */
  t: number;
  /** Epoch ms of the same time (timestamp_ms). */
  ms: number;
  /** The event's index in its request's batch. */
  position: number;
  properties: Record<string, unknown>;
  traits: string;
  consent: string;
  pagePath: string;
  campaign: [string, string, string];
}

const day = 86_400;
export const sec = (text: string): number => Date.parse(`${text.replace(' ', 'T')}Z`) / 1000;
export const dateTime = (s: number): string => (s === 0 ? '0000-00-00 00:00:00' : new Date(s * 1000).toISOString().slice(0, 19).replace('T', ' '));
export const date = (s: number): string => new Date(s * 1000).toISOString().slice(0, 10);
const monday = (s: number): number => {
  const d = Math.floor(s / day);
  return (d - ((d + 3) % 7)) * day;
};
const monthStart = (s: number): number => {
  const d = new Date(s * 1000);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / 1000;
};
const monthNumber = (s: number): number => {
  const d = new Date(s * 1000);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
};
/**
 * False for an event stored without ids (the consent policy `strip`): a person of its own, `event:<messageId>`,
 * that the event-count views (web_vitals, cx_monthly) count and every person-level view leaves out.
 */
export const ofAPerson = (e: RefEvent): boolean => !e.person.startsWith('event:');
const byMessageId = (a: RefEvent, b: RefEvent): number => (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0);
const byTime = (a: RefEvent, b: RefEvent): number => a.t - b.t || byMessageId(a, b);
/** A person's events in the order sessions and paths take them (views/030_sessions.sql). */
const byEventOrder = (a: RefEvent, b: RefEvent): number => a.ms - b.ms || a.position - b.position || byMessageId(a, b);
const groupBy = <T, K>(items: Iterable<T>, key: (item: T) => K): Map<K, T[]> => {
  const map = new Map<K, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = map.get(k);
    if (list) list.push(item);
    else map.set(k, [item]);
  }
  return map;
};
/** ClickHouse's quantileExact: the element at floor(level · n) of the sorted values. */
export const quantileExact = (values: number[], level: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(level * sorted.length))] as number;
};

/** One row per (source, message_id): the newest delivery, with its person from the truth. */
export function referenceEvents(rows: readonly EventRow[], personOf: (messageId: string) => string): RefEvent[] {
  const newest = new Map<string, EventRow>();
  for (const row of rows) {
    const key = `${row.source}\u0000${row.message_id}`;
    const seen = newest.get(key);
    if (!seen || row.received_at > seen.received_at) newest.set(key, row);
  }
  return [...newest.values()].map((row) => ({
    person: personOf(row.message_id),
    messageId: row.message_id,
    source: row.source,
    type: row.type,
    event: row.event,
    t: sec(row.timestamp),
    ms: row.timestamp_ms,
    position: row.batch_position,
    properties: JSON.parse(row.properties) as Record<string, unknown>,
    traits: row.traits,
    consent: row.consent,
    pagePath: row.page_path,
    campaign: [row.campaign_source, row.campaign_medium, row.campaign_name],
  }));
}

/**
 * The number of a property as segment rules and the value, CX and web-vitals views read it (query/conditions.ts,
 * JsonNumberSql): a JSON number, or a string whose whole content is a decimal number ("12.5"); undefined for anything else.
 */
const numberOf = (v: unknown): number | undefined => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/.test(v) ? Number(v) : undefined;
  return n !== undefined && Number.isFinite(n) ? n : undefined;
};
const moneyOf = (e: RefEvent): number => numberOf(e.properties.revenue) ?? 0;
const isOrder = (e: RefEvent): boolean => e.event === 'Order Completed';
const isRefund = (e: RefEvent): boolean => e.event === 'Order Refunded';

export interface RefOrder {
  /** The owner: the person of the order_id's first Order Completed, else of its first refund; else the sender. */
  person: string;
  /** False for refunds that match no order. */
  ordered: boolean;
  at: number;
  revenue: number;
  multiCategory: boolean;
  refunds: { t: number; amount: number }[];
}

/**
 * Every order, by owner: an order_id counts once, whoever sent its events (its earliest Order Completed, then
 * the smallest messageId, gives revenue and time; in event order, its person owns it, or, without one, the
 * person of its first refund); an event without order_id is its own group, its sender's. A refund without a
 * numeric revenue refunds the whole order; in time order, each refund is cut to what is left of its order's revenue.
 */
export function referenceOrders(events: RefEvent[]): Map<string, RefOrder[]> {
  // A number is its decimal text: 1234 and "1234" are one order.
  const orderId = (e: RefEvent): string => {
    const id = e.properties.order_id;
    return typeof id === 'string' ? id : typeof id === 'number' ? String(id) : '';
  };
  const money = events.filter((e) => ofAPerson(e) && (isOrder(e) || isRefund(e)));
  const orders = [...groupBy(money, (e) => (orderId(e) === '' ? `\u0000${e.messageId}` : orderId(e))).values()].map((group): RefOrder => {
    const first = group.filter(isOrder).sort(byTime)[0];
    const owner = [...group.filter(isOrder).sort(byEventOrder), ...group.filter(isRefund).sort(byEventOrder)][0] as RefEvent;
    const revenue = first ? moneyOf(first) : 0;
    let running = 0;
    let before = 0;
    const refunds = group
      .filter(isRefund)
      .sort(byTime)
      .map((e) => {
        running += numberOf(e.properties.revenue) ?? revenue;
        const capped = first ? Math.min(running, revenue) : running;
        const amount = capped - before;
        before = capped;
        return { t: e.t, amount };
      });
    return { person: owner.person, ordered: first !== undefined, at: first?.t ?? 0, revenue, multiCategory: first !== undefined && categoriesOf(first).length >= 2, refunds };
  });
  return groupBy(orders, (o) => o.person);
}

/** A person's order totals, as person_order_totals has them (no orders: 0 and 0). */
export function orderTotals(orders: RefOrder[]) {
  const placed = orders.filter((o) => o.ordered);
  const gross = orders.reduce((s, o) => s + o.revenue, 0);
  const refunded = orders.reduce((s, o) => s + o.refunds.reduce((r, x) => r + x.amount, 0), 0);
  return {
    orders: placed.length,
    gross,
    refunded,
    net: gross - refunded,
    firstOrder: Math.min(...placed.map((o) => o.at)),
    lastOrder: Math.max(0, ...placed.map((o) => o.at)),
    multiCategory: placed.filter((o) => o.multiCategory).length,
  };
}

export function referenceProfiles(events: RefEvent[], identifiersOf: (person: string) => string[]) {
  const ordersOf = referenceOrders(events);
  return [...groupBy(events.filter(ofAPerson), (e) => e.person)].map(([person, list]) => {
    const sorted = [...list].sort(byTime);
    const times = sorted.map((e) => e.t);
    const { orders, gross, net: revenue, lastOrder } = orderTotals(ordersOf.get(person) ?? []);
    const identifies = sorted.filter((e) => e.type === 'identify' && e.traits !== '' && e.traits !== '{}');
    const consents = sorted.filter((e) => e.consent !== '' && e.consent !== '{}');
    const touches = sorted.filter((e) => e.campaign[0] !== '');
    const touch = (e: RefEvent | undefined): [string, string, string] => e?.campaign ?? ['', '', ''];
    const [fs, fm, fc] = touch(touches[0]);
    const [ls, lm, lc] = touch(touches[touches.length - 1]);
    return {
      person_id: person,
      identifiers: identifiersOf(person),
      latest_traits: identifies[identifies.length - 1]?.traits ?? '',
      first_seen: dateTime(times[0] as number),
      last_seen: dateTime(times[times.length - 1] as number),
      sessions: times.filter((t, i) => i === 0 || t - (times[i - 1] as number) > 1800).length,
      page_views: list.filter((e) => e.type === 'page').length,
      orders,
      revenue,
      // Gross, as in customer_value: refunds lower revenue, not the size of an order.
      average_order_value: orders === 0 ? 0 : gross / orders,
      last_order_at: dateTime(lastOrder),
      consent_state: consents[consents.length - 1]?.consent ?? '',
      first_touch_source: fs,
      first_touch_medium: fm,
      first_touch_campaign: fc,
      last_touch_source: ls,
      last_touch_medium: lm,
      last_touch_campaign: lc,
    };
  });
}

export function referenceSessions(events: RefEvent[]) {
  return splitSessions(events).map(({ person, index, events: list }) => {
    const pages = list.filter((e) => e.type === 'page');
    const campaigns = list.filter((e) => e.campaign[0] !== '');
    const first = list[0] as RefEvent;
    const last = list[list.length - 1] as RefEvent;
    return {
      person_id: person,
      session_index: index,
      session_id: `${person}#${index}`,
      session_start: dateTime(first.t),
      session_end: dateTime(last.t),
      duration_seconds: last.t - first.t,
      events: list.length,
      landing_page: pages[0]?.pagePath ?? '',
      exit_page: pages[pages.length - 1]?.pagePath ?? '',
      traffic_source: campaigns[0]?.campaign[0] ?? 'direct',
      event_source: first.source,
      converted: list.some((e) => e.event === 'Order Completed') ? 1 : 0,
    };
  });
}

/** Each person's events split into sessions at gaps over 30 minutes, numbered from 1. */
export function splitSessions(events: RefEvent[]): { person: string; index: number; events: RefEvent[] }[] {
  const out: { person: string; index: number; events: RefEvent[] }[] = [];
  for (const [person, list] of groupBy(events.filter(ofAPerson), (e) => e.person)) {
    const sorted = [...list].sort(byEventOrder);
    let index = 0;
    sorted.forEach((e, i) => {
      if (i === 0 || e.t - (sorted[i - 1] as RefEvent).t > 1800) out.push({ person, index: ++index, events: [] });
      (out[out.length - 1] as { events: RefEvent[] }).events.push(e);
    });
  }
  return out;
}

/** ClickHouse's windowFunnel: the deepest step reached within `window` of a chain's first step. */
export function funnelLevel(matches: { t: number; step: number }[], stepCount: number, window: number): number {
  if (matches.length === 0) return 0;
  if (stepCount === 1) return 1;
  const sorted = [...matches].sort((a, b) => a.t - b.t || a.step - b.step);
  const starts: number[] = Array.from({ length: stepCount }, () => -1);
  for (const { t, step } of sorted) {
    if (step === 0) starts[0] = t;
    else if ((starts[step - 1] as number) >= 0 && t <= (starts[step - 1] as number) + window) {
      starts[step] = starts[step - 1] as number;
      if (step + 1 === stepCount) return stepCount;
    }
  }
  for (let level = stepCount; level > 0; level--) if ((starts[level - 1] as number) >= 0) return level;
  return 0;
}

const funnelSteps = ['Product Viewed', 'Product Added', 'Checkout Started', 'Order Completed'];

export function referenceFunnelDaily(events: RefEvent[]) {
  const relevant = events.filter((e) => ofAPerson(e) && funnelSteps.includes(e.event));
  const cells = new Map<string, { day: string; event_source: string; levels: number[] }>();
  for (const list of groupBy(relevant, (e) => e.person).values()) {
    // A funnel belongs to the day of its view, across sources (filed under the day's first view's source);
    // its later steps may fall on the next day.
    for (const d of new Set(list.filter((e) => e.event === funnelSteps[0]).map((e) => date(e.t)))) {
      const source = list.filter((e) => e.event === funnelSteps[0] && date(e.t) === d).reduce((first, e) => (e.ms < first.ms ? e : first)).source;
      const next = date(sec(`${d} 00:00:00`) + day);
      // In ms, steps of one ms in step order (views/040_funnels.sql).
      const matches = list
        .filter((e) => (e.event === funnelSteps[0] ? date(e.t) === d : date(e.t) === d || date(e.t) === next))
        .map((e) => ({ t: e.ms, step: funnelSteps.indexOf(e.event) }));
      const cellKey = `${d}|${source}`;
      const cell = cells.get(cellKey) ?? { day: d, event_source: source, levels: [] };
      cell.levels.push(funnelLevel(matches, 4, 86_400_000));
      cells.set(cellKey, cell);
    }
  }
  return [...cells.values()].map(({ day: d, event_source, levels }) => ({
    day: d,
    event_source,
    viewed: levels.filter((l) => l >= 1).length,
    added_to_cart: levels.filter((l) => l >= 2).length,
    checkout_started: levels.filter((l) => l >= 3).length,
    ordered: levels.filter((l) => l >= 4).length,
  }));
}

export function referencePaths(events: RefEvent[]) {
  const paths = splitSessions(events)
    .map((s) => s.events.filter((e) => (e.type === 'page' || e.type === 'track') && e.event !== 'Web Vitals').map((e) => (e.type === 'page' ? `page ${e.pagePath}` : e.event)))
    .filter((steps) => steps.length > 0);
  const count = (list: string[][]) =>
    [...groupBy(list.map((steps) => steps.join(' > ')), (p) => p)].map(([path, all]) => ({ path, sessions: all.length }));
  const conversion = paths.filter((s) => s.includes('Order Completed')).map((s) => {
    const at = s.indexOf('Order Completed');
    return s.slice(Math.max(0, at - 4), at);
  });
  const dropoff = paths.filter((s) => s.includes('Product Added') && !s.includes('Order Completed')).map((s) => s.slice(-4));
  const landing = paths.map((s) => s.slice(0, 4));
  return { toConversion: count(conversion), toDropoff: count(dropoff), afterLanding: count(landing) };
}

function retention(events: RefEvent[], period: (t: number) => number, offset: (p: number, cohort: number) => number) {
  const cells = new Map<string, { cohort: number; offset: number; persons: number }>();
  for (const list of groupBy(events.filter(ofAPerson), (e) => e.person).values()) {
    const periods = new Set(list.map((e) => period(e.t)));
    const cohort = Math.min(...periods);
    for (const p of periods) {
      const o = offset(p, cohort);
      const key = `${cohort}|${o}`;
      const cell = cells.get(key) ?? { cohort, offset: o, persons: 0 };
      cell.persons++;
      cells.set(key, cell);
    }
  }
  const size = (cohort: number): number => cells.get(`${cohort}|0`)?.persons ?? 0;
  return [...cells.values()].map((c) => ({ cohort: date(c.cohort), offset: c.offset, active: c.persons, size: size(c.cohort), share: c.persons / size(c.cohort) }));
}

export function referenceRetentionWeekly(events: RefEvent[]) {
  return retention(events, monday, (p, c) => Math.floor((p - c) / (7 * day))).map((r) => ({
    cohort_week: r.cohort,
    week_offset: r.offset,
    active_persons: r.active,
    cohort_size: r.size,
    share_active: r.share,
  }));
}

export function referenceRetentionMonthly(events: RefEvent[]) {
  return retention(events, monthStart, (p, c) => monthNumber(p) - monthNumber(c)).map((r) => ({
    cohort_month: r.cohort,
    month_offset: r.offset,
    active_persons: r.active,
    cohort_size: r.size,
    share_active: r.share,
  }));
}

const categoriesOf = (e: RefEvent): string[] => {
  const products = Array.isArray(e.properties.products) ? (e.properties.products as Record<string, unknown>[]) : [];
  // products[] only (a top-level category of an order is not a product's); a product without one adds none.
  return [...new Set(products.flatMap((p) => (typeof p.category === 'string' ? [p.category] : [])))];
};

export function referenceCustomerValue(events: RefEvent[]) {
  // Customers only: a person with refunds of no order of theirs (the shop's backend, say) is none.
  return [...referenceOrders(events)]
    .map(([person, orders]) => ({ person, totals: orderTotals(orders) }))
    .filter(({ totals }) => totals.orders > 0)
    .map(({ person, totals }) => ({
      person_id: person,
      first_order_at: dateTime(totals.firstOrder),
      last_order_at: dateTime(totals.lastOrder),
      orders: totals.orders,
      gross_revenue: totals.gross,
      refunded: totals.refunded,
      net_revenue: totals.net,
      average_order_value: totals.gross / totals.orders,
      multi_category_orders: totals.multiCategory,
    }));
}

export function referenceLtvCohorts(events: RefEvent[]) {
  const cells = new Map<string, { cohort: number; offset: number; revenue: number; buyers: Set<string> }>();
  for (const [person, orders] of referenceOrders(events)) {
    const placed = orders.filter((o) => o.ordered);
    if (placed.length === 0) continue;
    const cohort = monthStart(Math.min(...placed.map((o) => o.at)));
    const items = [...placed.map((o) => ({ t: o.at, amount: o.revenue })), ...orders.flatMap((o) => o.refunds.map((r) => ({ t: r.t, amount: -r.amount })))];
    for (const item of items) {
      const offset = monthNumber(item.t) - monthNumber(cohort);
      const key = `${cohort}|${offset}`;
      const cell = cells.get(key) ?? { cohort, offset, revenue: 0, buyers: new Set<string>() };
      cell.revenue += item.amount;
      cell.buyers.add(person);
      cells.set(key, cell);
    }
  }
  return [...groupBy(cells.values(), (c) => c.cohort)].flatMap(([cohort, list]) => {
    const sorted = [...list].sort((a, b) => a.offset - b.offset);
    const customers = sorted.find((c) => c.offset === 0)?.buyers.size ?? 0;
    let running = 0;
    return sorted.map((c) => {
      running += c.revenue;
      return {
        cohort_month: date(cohort),
        months_since_first_order: c.offset,
        net_revenue: c.revenue,
        cumulative_revenue: running,
        customers,
        cumulative_revenue_per_customer: running / customers,
      };
    });
  });
}

export function referenceValueMetrics(events: RefEvent[], newestEvent: number) {
  const customers = referenceCustomerValue(events);
  const orders = customers.reduce((s, c) => s + c.orders, 0);
  const gross = customers.reduce((s, c) => s + c.gross_revenue, 0);
  return {
    customers: customers.length,
    total_orders: orders,
    gross,
    refunds: customers.reduce((s, c) => s + c.refunded, 0),
    net: customers.reduce((s, c) => s + c.net_revenue, 0),
    average_order_value: gross / orders,
    purchase_frequency: orders / customers.length,
    repeat_purchase_rate: customers.filter((c) => c.orders >= 2).length / customers.length,
    cross_sell_rate: customers.reduce((s, c) => s + c.multi_category_orders, 0) / orders,
    churn_rate_90d: customers.filter((c) => sec(c.last_order_at) < newestEvent - 90 * day).length / customers.length,
  };
}

function cx(responses: RefEvent[]) {
  // An answer whose score has no number is no answer (views/080_cx.sql).
  const of = (kind: string) => responses.filter((e) => e.properties.survey_type === kind && numberOf(e.properties.score) !== undefined);
  const nps = of('nps');
  const csat = of('csat');
  const ces = of('ces');
  const score = (e: RefEvent) => numberOf(e.properties.score) ?? 0;
  const scaleMax = (e: RefEvent) => numberOf(e.properties.scale_max) ?? 0;
  return {
    nps_responses: nps.length,
    nps: nps.length === 0 ? 0 : ((nps.filter((e) => score(e) >= 9).length - nps.filter((e) => score(e) <= 6).length) * 100) / nps.length,
    csat_responses: csat.length,
    csat: csat.length === 0 ? 0 : (csat.filter((e) => scaleMax(e) > 0 && score(e) / scaleMax(e) >= 0.8).length * 100) / csat.length,
    ces_responses: ces.length,
    ces: ces.length === 0 ? 0 : ces.reduce((s, e) => s + score(e), 0) / ces.length,
  };
}

/** Survey Responded events with a score that is a number (numberOf): the others are no answer. */
const surveyResponses = (events: RefEvent[]): RefEvent[] => events.filter((e) => e.event === 'Survey Responded' && numberOf(e.properties.score) !== undefined);

export function referenceCxMonthly(events: RefEvent[]) {
  const responses = surveyResponses(events);
  return [...groupBy(responses, (e) => date(monthStart(e.t)))].map(([month, list]) => ({ month, ...cx(list) }));
}

export function referenceCxBySegment(events: RefEvent[], members: Map<string, Set<string>>) {
  const responses = surveyResponses(events);
  return [...members]
    .map(([segment, persons]) => ({ segment_id: segment, list: responses.filter((e) => persons.has(e.person)) }))
    .filter((s) => s.list.length > 0)
    .map(({ segment_id, list }) => ({ segment_id, ...cx(list) }));
}

export function referenceLtvBySegment(events: RefEvent[], members: Map<string, Set<string>>) {
  const value = new Map(referenceCustomerValue(events).map((c) => [c.person_id, c]));
  return [...members]
    .filter(([, persons]) => persons.size > 0)
    .map(([segment, persons]) => {
      const revenue = [...persons].reduce((s, p) => s + (value.get(p)?.net_revenue ?? 0), 0);
      return {
        segment_id: segment,
        members: persons.size,
        customers: [...persons].filter((p) => value.has(p)).length,
        revenue,
        ltv_per_member: revenue / persons.size,
      };
    });
}

export function referenceWebVitals(events: RefEvent[]) {
  const vitals = events.filter((e) => e.event === 'Web Vitals');
  const loadPath = (e: RefEvent) => (typeof e.properties.path === 'string' ? e.properties.path : e.pagePath);
  return [...groupBy(vitals, loadPath)].map(([path, list]) => {
    const values = (name: string) => list.map((e) => numberOf(e.properties[name])).filter((v): v is number => v !== undefined);
    const p75 = (v: number[]) => (v.length === 0 ? 0 : quantileExact(v, 0.75));
    const [lcp, inp, cls] = [values('lcp'), values('inp'), values('cls')];
    return { path, lcp_samples: lcp.length, lcp_p75: p75(lcp), inp_samples: inp.length, inp_p75: p75(inp), cls_samples: cls.length, cls_p75: p75(cls) };
  });
}

/** Members of each built-in segment at `asOf` (epoch seconds), with the same default parameters. */
export function referenceBuiltinSegments(events: RefEvent[], asOf: number): Map<string, Set<string>> {
  const ordersOf = referenceOrders(events);
  const persons = [...groupBy(events.filter(ofAPerson), (e) => e.person)].map(([person, list]) => {
    const max = (name: string) => Math.max(0, ...list.filter((e) => e.event === name).map((e) => e.t));
    const totals = orderTotals(ordersOf.get(person) ?? []);
    return {
      person,
      orders: totals.orders,
      ltv: totals.net,
      lastOrder: totals.lastOrder,
      lastAdd: max('Product Added'),
      recentAdds: list.filter((e) => e.event === 'Product Added' && e.type === 'track' && e.t > asOf - 7 * day && e.t <= asOf).length,
      firstSeen: Math.min(...list.map((e) => e.t)),
    };
  });
  const customers = persons.filter((p) => p.orders > 0);
  const threshold = quantileExact(customers.map((p) => p.ltv), 0.9);
  const set = (keep: (p: (typeof persons)[number]) => boolean) => new Set(persons.filter(keep).map((p) => p.person));
  return new Map([
    ['builtin_cart_abandoners', set((p) => p.recentAdds >= 1 && (asOf - p.lastAdd) / 3600 >= 24 && !(p.lastOrder >= p.lastAdd))],
    ['builtin_repeat_buyers', set((p) => p.orders >= 2)],
    ['builtin_lapsed_customers', set((p) => p.orders >= 1 && (asOf - p.lastOrder) / day > 90)],
    ['builtin_top_ltv_10', set((p) => p.orders > 0 && p.ltv >= threshold)],
    ['builtin_new_visitors', set((p) => (asOf - p.firstSeen) / day <= 7)],
  ]);
}
