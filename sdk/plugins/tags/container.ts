// The tag container's format, shared by the collector's full validator (validate.ts) and the browser's
// lenient reading (load.ts).

import { isBag } from '../shape';

/** A text condition; every condition given must hold. `regex` is a RegExp source (never evaluated as code). */
export interface TextMatch {
  equals?: string;
  contains?: string;
  startsWith?: string;
  regex?: string;
}

const textMatchKeys = ['equals', 'contains', 'startsWith', 'regex'];

/**
 * Whether a value is a {@link TextMatch} the matcher can use: an object of at least one known condition,
 * all strings. Anything else (a misspelt or empty condition) would match every page.
 */
export const isTextMatch = (value: unknown): value is TextMatch =>
  isBag(value) && Object.keys(value).length > 0 && Object.entries(value).every(([k, v]) => textMatchKeys.includes(k) && typeof v === 'string');

export const triggerTypes = ['page', 'track', 'click', 'submit', 'dataLayer'] as const;
export type TriggerType = (typeof triggerTypes)[number];

/** When tags fire. `url`/`path` conditions test the current page for every trigger type. */
export interface Trigger {
  id: string;
  type: TriggerType;
  url?: TextMatch;
  path?: TextMatch;
  /** track: the event name; dataLayer: the pushed `event`. */
  event?: string;
  /** track: properties that must equal these values. */
  properties?: Record<string, string | number | boolean>;
  /** click/submit: a CSS selector the clicked element (or one of its ancestors) or the form must match. */
  selector?: string;
}

export const tagTypes = ['script', 'pixel', 'dataLayer', 'global'] as const;
export type TagType = (typeof tagTypes)[number];

/** What fires. Strings may hold `{{variable}}` placeholders. */
export interface Tag {
  id: string;
  type: TagType;
  /** Ids of the triggers that fire it (any one suffices). */
  triggers: string[];
  /** Consent purposes it needs, all of them (default none). */
  purposes?: string[];
  /** When held back by consent, fire once the purposes are granted (default: drop). */
  waitForConsent?: boolean;
  /** script, pixel: the http(s) URL. */
  src?: string;
  /** dataLayer: the object to push; global: unused. */
  data?: Record<string, unknown>;
  /** dataLayer: the array's name (default dataLayer); global: the function's path on window, e.g. `fbq`, which the page must allow. */
  name?: string;
  /** global: the arguments. */
  args?: unknown[];
}

export const variableTypes = ['url', 'cookie', 'dataLayer', 'property', 'constant'] as const;
export type VariableType = (typeof variableTypes)[number];

/** A value for `{{name}}`: a URL parameter, a cookie, a dataLayer path, an event property path, or a constant. */
export interface Variable {
  name: string;
  type: VariableType;
  /** url: parameter name; cookie: cookie name; dataLayer, property: dotted path. */
  key?: string;
  /** constant: the value. */
  value?: unknown;
}

export interface Container {
  /** Any label of this version of the container (optional). */
  version: string;
  tags: Tag[];
  triggers: Trigger[];
  variables: Variable[];
}

/**
 * A script or pixel URL: a literal http(s) host up to its `/`, so placeholders can fill in a path or
 * query, never the host (or `javascript:`). Checked by the collector and again by the browser.
 */
export const httpSrc = /^(https?:)?\/\/[^/{}?#\\]+\//;
