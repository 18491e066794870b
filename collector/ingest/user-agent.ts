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
 * Whether the request's User-Agent is the visitor's, for an event without a `context.userAgent` of its own:
 * yes when a browser library sent it or no library is named (a hand-made tag, a sendBeacon call); no for
 * any other library (analytics-node, analytics-python, the mobile ones), whose requests name the library
 * (`analytics-python/2.3.2`, `okhttp/4.9.0`): isbot takes those for crawlers, which a server is not.
 */
export function requestAgentIsVisitors(libraryName: string): boolean {
  return libraryName === '' || browserLibraries.has(libraryName);
}
