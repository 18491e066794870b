// The user agent parsed into browser, OS and device (ua-parser-js v1, MIT), plus a bot flag for known
// crawlers (isbot), and which user agent is the visitor's. Parsing costs tens of microseconds, and a site
// sees few distinct user agents, so results are memoised in a small bounded map.
import { isbot } from 'isbot';
import UAParser from 'ua-parser-js';

export interface UserAgentInfo {
  browser: string;
  browserVersion: string;
  os: string;
  osVersion: string;
  /** mobile, tablet, console, smarttv, wearable, embedded, or desktop when a browser is known and no device is named. */
  deviceType: string;
  deviceVendor: string;
  deviceModel: string;
  bot: boolean;
}

const memo = new Map<string, UserAgentInfo>();
const memoSize = 2000;

function parse(userAgent: string): UserAgentInfo {
  const { browser, os, device } = new UAParser(userAgent).getResult();
  return {
    browser: browser.name ?? '',
    browserVersion: browser.version ?? '',
    os: os.name ?? '',
    osVersion: os.version ?? '',
    deviceType: device.type ?? (browser.name ? 'desktop' : ''),
    deviceVendor: device.vendor ?? '',
    deviceModel: device.model ?? '',
    bot: isbot(userAgent),
  };
}

/** Browser, OS, device and bot flag of a User-Agent string ('' fields when unknown). */
export function parseUserAgent(userAgent: string): UserAgentInfo {
  const known = memo.get(userAgent);
  if (known) return known;
  const info = parse(userAgent);
  // Oldest entry out first: Map keeps insertion order.
  if (memo.size >= memoSize) memo.delete(memo.keys().next().value as string);
  memo.set(userAgent, info);
  return info;
}

/**
 * Libraries that run in the visitor's browser, by the `context.library.name` they send: Tagflow's SDK,
 * Segment's analytics.js (analytics-next reports the same name) and RudderStack's JavaScript SDK.
 */
const browserLibraries = new Set(['tagflow', 'analytics.js', 'RudderLabs JavaScript SDK']);

/**
 * Whether an event's user agent is its visitor's, so that isbot's verdict on it is the visitor's (`is_bot`).
 * `ownAgent`: the event's `context.userAgent` ('' without one); `userAgent`: that, else the request's User-Agent.
 *  - A library is named: a browser library's requests come from the visitor's browser. Any other library
 *    (analytics-node, analytics-python, the mobile ones) names itself in the request (`analytics-python/2.3.2`,
 *    `okhttp/4.9.0`, which isbot takes for crawlers), so only a `context.userAgent` it forwards is the visitor's.
 *  - No library is named: a hand-made tag in a page sends a browser's user agent, which starts with `Mozilla/`
 *    (every browser's does, and so do those of the crawlers that render pages: Googlebot, Bingbot, headless
 *    Chrome); anything else is a script or a server posting with curl, requests or fetch (`curl/8.5.0`,
 *    `python-requests/2.31.0`, `node`), such as a shop's backend sending its orders: no crawler, and its events
 *    must stay in the person-level views, which leave bots out.
 */
export function isVisitorsAgent(libraryName: string, ownAgent: string, userAgent: string): boolean {
  if (libraryName === '') return userAgent.startsWith('Mozilla/');
  return ownAgent !== '' || browserLibraries.has(libraryName);
}
