// A seeded synthetic shop: people with several devices who browse, log in, buy, get refunds, answer
// surveys and change consent; delivered with duplicates, late and out of order, from skewed clocks.
// It also returns the truth (which person each event belongs to, and each person's identifiers) so tests
// can compare the warehouse with an independent computation.
import { normalizeEmail, normalizePhone, sha256 } from '../identity/identifiers';
import { surveyScales } from '../../../sdk/plugins/feedback';
import { seededRandom, type Random } from './random';

export interface GeneratorOptions {
  seed?: number;
  people?: number;
  /** Epoch ms of the end of the period; events happen in the `days` before it. */
  end?: number;
  days?: number;
  /** Number of the first person: datasets made in chunks (the benchmark) use disjoint ranges. */
  firstIndex?: number;
  /** Share of people who register (log in, buy); the rest are anonymous visitors. Default 0.75. */
  registeredShare?: number;
  /**
   * Share of refunds the shop's backend sends under its own service anonymousId (`shop-backend`, as a Segment
   * server library configured with a fixed one does) instead of the buyer's userId. Default 0 (the same
   * deliveries as before the option). The backend is then a person of its own: `anon:shop-backend`.
   */
  backendRefundShare?: number;
}

/** One HTTP delivery of one event, as the collector would see it. */
export interface Delivery {
  raw: Record<string, unknown>;
  source: string;
  sentAt: string;
  receivedAt: number;
}

export interface TruePerson {
  personId: string;
  /** Every identity-graph node of the person (a shared device appears under each of its users). */
  nodes: string[];
}

export interface Dataset {
  deliveries: Delivery[];
  /** messageId → the person (canonical node) the event belongs to; `event:<messageId>` for events stored without ids. */
  personOfMessage: Map<string, string>;
  /** People who accepted analytics (a visitor who denied it is no person: each of its events is one). */
  persons: TruePerson[];
  /** Devices used by two people: anon node → the person ids in order of use. */
  sharedDevices: Map<string, string[]>;
  end: number;
}

/** Bump whenever the same options would give different deliveries: cached benchmark datasets are keyed on it. */
export const generatorVersion = 2;

export const defaultEnd = Date.UTC(2026, 10, 1);
const second = 1000;
const minute = 60 * second;
const hour = 60 * minute;
const day = 24 * hour;

const categories = ['sneakers', 'care', 'apparel', 'accessories'] as const;
const pages = ['/', '/catalog', '/catalog/sneakers', '/catalog/care', '/blog', '/about', '/cart'] as const;
const campaigns = [
  { source: 'google', medium: 'cpc', name: 'autumn' },
  { source: 'yandex', medium: 'cpc', name: 'brand' },
  { source: 'newsletter', medium: 'email', name: 'weekly' },
  { source: 'vk', medium: 'social', name: 'launch' },
] as const;

interface Device {
  anonymousId: string;
  source: string;
  skew: number;
  marketing: boolean;
  /** false: the visitor denied analytics, so the collector (policy `strip`) stores its events without ids. */
  analytics: boolean;
  /** userId shown on this device's events once someone logged in on it. */
  loggedIn: string;
  used: boolean;
}

interface Person {
  index: number;
  userId: string;
  email: string;
  phone: string;
  devices: Device[];
  personId: string;
  nodes: Set<string>;
  lastEnd: number;
}

class Builder {
  readonly deliveries: Delivery[] = [];
  readonly personOfMessage = new Map<string, string>();
  private counter = 0;
  constructor(
    private readonly rnd: Random,
    readonly end: number,
    private readonly prefix: string,
    readonly backendRefundShare: number,
  ) {}

  /**
   * Emits one event at true time `at`, delivered (maybe late, maybe twice) from `device`'s clock. `service`: the
   * shop's backend sends it under that anonymousId of its own (no device, no userId): the event is that service's.
   */
  emit(person: Person, device: Device | undefined, at: number, body: Record<string, unknown>, withUser: boolean, page: string, service?: string): void {
    const messageId = `m${this.prefix}${(this.counter++).toString(36)}-${this.rnd.hex(6)}`;
    const skew = device?.skew ?? 0;
    // Browser events carry the device's consent and page; the shop's backend (refunds) carries neither.
    const context: Record<string, unknown> = device
      ? { consent: { categoryPreferences: { analytics: device.analytics, marketing: device.marketing } }, page: { path: page, url: `https://shop.example.com${page}`, title: page } }
      : {};
    const raw: Record<string, unknown> = { ...body, messageId, timestamp: new Date(at + skew).toISOString(), context: { ...context, ...(body.context as object | undefined) } };
    if (device) raw.anonymousId = device.anonymousId;
    if (service !== undefined) raw.anonymousId = service;
    else if (withUser || !device) raw.userId = person.userId;
    const late = this.rnd.chance(0.03) ? this.rnd.int(1, 72) * hour : 0;
    const delay = this.rnd.int(1, 5) * second + late;
    const source = device?.source ?? 'server';
    this.deliveries.push({ raw, source, sentAt: new Date(at + delay + skew).toISOString(), receivedAt: at + delay });
    if (this.rnd.chance(0.03)) {
      const retry = this.rnd.int(1, 10) * minute;
      this.deliveries.push({ raw, source, sentAt: new Date(at + delay + retry + skew).toISOString(), receivedAt: at + delay + retry });
    }
    this.personOfMessage.set(messageId, service !== undefined ? `anon:${service}` : device && !device.analytics ? `event:${messageId}` : person.personId);
  }
}

function messyEmail(rnd: Random, email: string): string {
  const spaced = rnd.chance(0.3) ? `  ${email} ` : email;
  return rnd.chance(0.5) ? spaced.replace(/^./, (c) => c.toUpperCase()).replace('@example', '@EXAMPLE') : spaced;
}

function phoneText(rnd: Random, digits: string): string {
  // digits: 10 national digits after +7
  return rnd.chance(0.5)
    ? `+7 (${digits.slice(0, 3)}) ${digits.slice(3, 6)}-${digits.slice(6, 8)}-${digits.slice(8)}`
    : `8 ${digits.slice(0, 3)} ${digits.slice(3, 6)} ${digits.slice(6)}`;
}

function identifyTraits(rnd: Random, person: Person, full: boolean): Record<string, unknown> {
  if (!full) return { email: messyEmail(rnd, person.email) };
  const traits: Record<string, unknown> = { email: messyEmail(rnd, person.email), name: `Person ${person.index}`, plan: rnd.pick(['free', 'plus', 'pro']) };
  if (person.phone) traits.phone = phoneText(rnd, person.phone);
  return traits;
}

/** Builds the dataset. The same options always give the same deliveries. */
export function generateDataset(options: GeneratorOptions = {}): Dataset {
  const rnd = seededRandom(options.seed ?? 42);
  const end = options.end ?? defaultEnd;
  const days = options.days ?? 120;
  const start = end - days * day;
  const firstIndex = options.firstIndex ?? 0;
  const b = new Builder(rnd, end, firstIndex === 0 ? '' : `${firstIndex.toString(36)}_`, options.backendRefundShare ?? 0);
  const persons: Person[] = [];
  const sharedDevices = new Map<string, string[]>();
  let lastRegistered: Person | undefined;

  for (let index = firstIndex; index < firstIndex + (options.people ?? 10_000); index++) {
    const registered = rnd.chance(options.registeredShare ?? 0.75);
    const deviceCount = registered ? 1 + Number(rnd.chance(0.5)) + Number(rnd.chance(0.2)) : 1;
    const devices: Device[] = Array.from({ length: deviceCount }, (_, k) => ({
      anonymousId: `d${index}k${k}-${rnd.hex(8)}`,
      source: k === 0 || rnd.chance(0.5) ? 'web' : 'app',
      skew: rnd.int(-3 * 3600, 3 * 3600) * second,
      marketing: rnd.chance(0.6),
      // Some anonymous visitors deny analytics (registered ones accept: they log in).
      analytics: registered || rnd.chance(0.85),
      loggedIn: '',
      used: false,
    }));
    const userId = registered ? `u${index}` : '';
    const person: Person = {
      index,
      userId,
      email: registered ? `person${index}@example.com` : '',
      phone: registered && rnd.chance(0.5) ? `9${String(rnd.int(0, 999_999_999)).padStart(9, '0')}` : '',
      devices,
      personId: registered ? `user:${userId}` : `anon:${devices[0]?.anonymousId}`,
      nodes: new Set(),
      lastEnd: 0,
    };
    if (registered) {
      person.nodes.add(`user:${userId}`).add(`email:${sha256(normalizeEmail(person.email) as string)}`);
      const phone = person.phone ? normalizePhone(`+7${person.phone}`) : undefined;
      if (phone) person.nodes.add(`phone:${sha256(phone)}`).add(`phone_digits:${sha256(phone.slice(1))}`);
    }

    // A family computer: some people also use the previous registered person's first device, after that
    // person's last visit, and log in on it.
    const sharing = registered && lastRegistered && rnd.chance(0.05) ? lastRegistered : undefined;
    let sharedUsed = false;

    let at = start + rnd.int(0, (days - 2) * 24 * 3600) * second;
    const sessions = registered ? rnd.int(1, 7) : rnd.int(1, 2);
    for (let s = 0; s < sessions && at < end - day; s++) {
      let device = s === 0 ? (devices[0] as Device) : rnd.pick(devices);
      let shared = false;
      const sharedDevice = sharing?.devices[0];
      if (sharing && sharedDevice && !sharedUsed && s > 0 && at > sharing.lastEnd + day) {
        device = sharedDevice;
        shared = true;
        sharedUsed = true;
        person.nodes.add(`anon:${sharedDevice.anonymousId}`);
        sharedDevices.set(`anon:${sharedDevice.anonymousId}`, [sharing.personId, person.personId]);
      }
      at = session(b, rnd, person, device, at, s === 0 || !device.used, registered, shared);
      device.used = true;
      person.lastEnd = at;
      at += rnd.int(2 * 3600, 20 * 24 * 3600) * second;
    }
    for (const device of devices) if (device.used) person.nodes.add(`anon:${device.anonymousId}`);
    if (devices.every((device) => device.analytics)) persons.push(person);
    if (registered) lastRegistered = person;
  }
  return {
    deliveries: rnd.shuffle(b.deliveries),
    personOfMessage: b.personOfMessage,
    persons: persons.map((p) => ({ personId: p.personId, nodes: [...p.nodes].sort() })),
    sharedDevices,
    end,
  };
}

/** One visit; returns the true time of its last event. */
function session(b: Builder, rnd: Random, person: Person, device: Device, startAt: number, firstOnDevice: boolean, registered: boolean, shared: boolean): number {
  let at = startAt;
  const step = (): number => (at += rnd.int(30, 240) * second);
  const user = (): boolean => device.loggedIn === person.userId && person.userId !== '';
  let page: string = rnd.pick(pages);
  const landingContext = firstOnDevice || rnd.chance(0.3) ? { campaign: rnd.pick(campaigns) } : {};

  if (shared) {
    // Logs in first; afterwards some integrations send only the anonymousId.
    b.emit(person, device, at, { type: 'identify', traits: identifyTraits(rnd, person, true) }, true, page);
    device.loggedIn = person.userId;
    step();
  }
  const withUser = (): boolean => user() && (!shared || rnd.chance(0.7));
  b.emit(person, device, at, { type: 'page', name: page, properties: { path: page }, context: landingContext }, withUser(), page);
  vitals(b, rnd, person, device, at, page, withUser());

  if (registered && firstOnDevice && !shared && device.loggedIn === '') {
    // First visit on this device: log in, or (second devices, half the time) subscribe with the e-mail only.
    step();
    const login = device === person.devices[0] || rnd.chance(0.5);
    b.emit(person, device, at, { type: 'identify', traits: identifyTraits(rnd, person, login) }, login, page);
    if (login) device.loggedIn = person.userId;
  }
  for (let n = rnd.int(0, 3); n > 0; n--) {
    step();
    page = rnd.pick(pages);
    b.emit(person, device, at, { type: 'page', name: page, properties: { path: page } }, withUser(), page);
    vitals(b, rnd, person, device, at, page, withUser());
  }
  if (rnd.chance(0.05)) {
    step();
    device.marketing = !device.marketing;
    b.emit(person, device, at, { type: 'track', event: 'Consent Updated', properties: { marketing: device.marketing } }, withUser(), page);
  }
  if (rnd.chance(0.6)) {
    const category = rnd.pick(categories);
    const price = rnd.int(5, 200);
    const productId = `p-${category}-${rnd.int(1, 20)}`;
    step();
    page = `/product/${productId}`;
    b.emit(person, device, at, { type: 'track', event: 'Product Viewed', properties: { product_id: productId, category, price } }, withUser(), page);
    if (rnd.chance(0.5)) {
      step();
      b.emit(person, device, at, { type: 'track', event: 'Product Added', properties: { product_id: productId, category, price, quantity: 1 } }, withUser(), page);
      if (registered && rnd.chance(0.6)) {
        step();
        page = '/checkout';
        if (!user()) {
          b.emit(person, device, at, { type: 'identify', traits: identifyTraits(rnd, person, true) }, true, page);
          device.loggedIn = person.userId;
          step();
        }
        b.emit(person, device, at, { type: 'track', event: 'Checkout Started', properties: { revenue: price } }, withUser(), page);
        if (rnd.chance(0.7)) {
          const products = [{ product_id: productId, category, price }];
          if (rnd.chance(0.4)) {
            const extra = rnd.pick(categories);
            products.push({ product_id: `p-${extra}-${rnd.int(1, 20)}`, category: extra, price: rnd.int(5, 80) });
          }
          const revenue = products.reduce((sum, p) => sum + p.price, 0);
          // Some shops send no order_id: each such order counts on its own.
          const orderId = rnd.chance(0.05) ? undefined : `o-${person.index}-${rnd.hex(6)}`;
          const order = { ...(orderId === undefined ? {} : { order_id: orderId }), revenue, currency: 'USD', products };
          step();
          b.emit(person, device, at, { type: 'track', event: 'Order Completed', properties: order }, withUser(), page);
          if (rnd.chance(0.15)) {
            // The thank-you page reloaded (or a second integration firing): the same order again, a new messageId.
            step();
            b.emit(person, device, at, { type: 'track', event: 'Order Completed', properties: order }, withUser(), page);
          }
          // Refunds come from the shop's backend: the buyer's userId only, no device, or (backendRefundShare) its own
          // service anonymousId. Without revenue a refund is a full one (the Segment spec; what the GA4 bridge sends);
          // a second partial refund may ask for more than is left.
          let refundAt = at;
          for (let n = rnd.chance(0.1) ? (rnd.chance(0.3) ? 2 : 1) : 0; n > 0; n--) {
            refundAt += rnd.int(1, 10) * day;
            if (refundAt >= b.end) break;
            const amount = rnd.chance(0.4) ? {} : { revenue: rnd.int(1, revenue) };
            const refund = { ...(orderId === undefined ? {} : { order_id: orderId }), ...amount, currency: 'USD' };
            const service = b.backendRefundShare > 0 && rnd.chance(b.backendRefundShare) ? 'shop-backend' : undefined;
            b.emit(person, undefined, refundAt, { type: 'track', event: 'Order Refunded', properties: refund }, true, '', service);
          }
        }
      }
    }
  }
  if (rnd.chance(0.12)) {
    step();
    const kind = rnd.pick(['nps', 'csat', 'ces'] as const);
    const [scale_min, scale_max] = surveyScales[kind];
    const score = rnd.int(scale_min, scale_max);
    const properties = { survey_type: kind, score, scale_min, scale_max, url: `https://shop.example.com${page}`, path: page, title: page };
    b.emit(person, device, at, { type: 'track', event: 'Survey Responded', properties }, withUser(), page);
  }
  return at;
}

/** Google's good / poor thresholds per metric, for the `<metric>_rating` the plugin sends. */
const vitalThresholds = { lcp: [2500, 4000], inp: [200, 500], cls: [0.1, 0.25], fcp: [1800, 3000], ttfb: [800, 1800] } as const;

/** One Web Vitals event per page load in the vitals plugin's shape: flat `lcp`, `lcp_rating`, …; INP only after an interaction. */
function vitals(b: Builder, rnd: Random, person: Person, device: Device, pageAt: number, page: string, withUser: boolean): void {
  if (!rnd.chance(0.3)) return;
  const values: Record<keyof typeof vitalThresholds, number | undefined> = {
    ttfb: rnd.int(50, 2000),
    fcp: rnd.int(300, 4000),
    lcp: rnd.chance(0.9) ? rnd.int(500, 6000) : undefined,
    inp: rnd.chance(0.6) ? rnd.int(20, 900) : undefined,
    cls: rnd.int(0, 500) / 1000,
  };
  const properties: Record<string, number | string> = {};
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue;
    const [good, poor] = vitalThresholds[name as keyof typeof vitalThresholds];
    properties[name] = value;
    properties[`${name}_rating`] = value <= good ? 'good' : value <= poor ? 'needs-improvement' : 'poor';
  }
  b.emit(person, device, pageAt + 5 * second, { type: 'track', event: 'Web Vitals', properties }, withUser, page);
}
