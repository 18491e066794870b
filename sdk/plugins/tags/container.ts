// The tag container: its format, and the one validator that both the collector (refusing a malformed
// container at start) and the browser (ignoring the faulty parts with a debug message) use.

import { isBag, type Bag } from '../shape';

/** A text condition; every condition given must hold. `regex` is a RegExp source (never evaluated as code). */
export interface TextMatch {
  equals?: string;
  contains?: string;
  startsWith?: string;
  regex?: string;
}

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

/** The valid part of a container and a message per refused part, each naming its field. */
export interface ReadContainer {
  container: Container;
  problems: string[];
}

/**
 * The shape of a global function's path (`fbq`, `_tmr.push`). Which paths may run is the page's
 * choice (`tagsPlugin({ globals })`), never the container's: the collector cannot know it.
 */
const globalPath = /^[\w$]+(\.[\w$]+)*$/;

const isText = (v: unknown): v is string => typeof v === 'string' && v !== '';
const oneOf = (list: readonly string[]) => `must be one of ${list.join(', ')}`;

function matchProblem(where: string, m: unknown): string | undefined {
  if (m === undefined) return undefined;
  if (!isBag(m) || !Object.keys(m).length || !Object.entries(m).every(([k, v]) => ['equals', 'contains', 'startsWith', 'regex'].includes(k) && typeof v === 'string')) {
    return `${where} must be an object of equals, contains, startsWith or regex`;
  }
  try {
    if (m.regex !== undefined) new RegExp(m.regex as string);
  } catch {
    return `${where}.regex is not a valid regex`;
  }
  return undefined;
}

function triggerProblem(t: Bag, where: string): string | undefined {
  if (!isText(t.id)) return `${where}.id must be a non-empty string`;
  if (!triggerTypes.includes(t.type as TriggerType)) return `${where}.type ${oneOf(triggerTypes)}`;
  if ((t.type === 'track' || t.type === 'dataLayer') && !isText(t.event)) return `${where}.event must be a non-empty string`;
  if (t.selector !== undefined && !isText(t.selector)) return `${where}.selector must be a non-empty string`;
  if (t.properties !== undefined && (!isBag(t.properties) || !Object.values(t.properties).every((v) => ['string', 'number', 'boolean'].includes(typeof v)))) {
    return `${where}.properties must hold strings, numbers or booleans`;
  }
  return matchProblem(`${where}.url`, t.url) ?? matchProblem(`${where}.path`, t.path);
}

function tagProblem(t: Bag, where: string, triggerIds: Set<string>): string | undefined {
  if (!isText(t.id)) return `${where}.id must be a non-empty string`;
  if (!tagTypes.includes(t.type as TagType)) return `${where}.type ${oneOf(tagTypes)}`;
  if (!Array.isArray(t.triggers) || !t.triggers.length) return `${where}.triggers must list trigger ids`;
  const unknown = t.triggers.findIndex((id) => !triggerIds.has(id as string));
  if (unknown >= 0) return `${where}.triggers[${unknown}] names no valid trigger`;
  if (t.purposes !== undefined && (!Array.isArray(t.purposes) || !t.purposes.every(isText))) return `${where}.purposes must be an array of purposes`;
  // A literal http(s) host up to its `/`: placeholders can fill in a path or query, never the host (or javascript:).
  if ((t.type === 'script' || t.type === 'pixel') && !(isText(t.src) && /^(https?:)?\/\/[^/{}?#\\]+\//.test(t.src))) return `${where}.src must be an http(s) URL`;
  if (t.type === 'dataLayer' && !isBag(t.data)) return `${where}.data must be an object`;
  if (t.type === 'global' && !(isText(t.name) && globalPath.test(t.name) && (t.args ?? []) instanceof Array)) return `${where}.name must be a dotted function path`;
  return undefined;
}

function variableProblem(v: Bag, where: string): string | undefined {
  if (!isText(v.name) || !/^\w+$/.test(v.name)) return `${where}.name must be letters, digits or _`;
  if (!variableTypes.includes(v.type as VariableType)) return `${where}.type ${oneOf(variableTypes)}`;
  if (v.type !== 'constant' && !isText(v.key)) return `${where}.key must be a non-empty string`;
  return undefined;
}

/** Keeps the items that pass `check`; the others become problems. */
function keep<T>(list: unknown, field: string, problems: string[], check: (item: Bag, where: string) => string | undefined): T[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) {
    problems.push(`${field} must be an array`);
    return [];
  }
  return list.filter((item, i) => {
    const problem = isBag(item) ? check(item, `${field}[${i}]`) : `${field}[${i}] must be an object`;
    if (problem) problems.push(problem);
    return !problem;
  }) as T[];
}

/** Reads a container: valid triggers, variables and tags are kept, the rest reported. Pure. */
export function readContainer(raw: unknown): ReadContainer {
  const problems: string[] = [];
  if (!isBag(raw)) return { container: { version: '', tags: [], triggers: [], variables: [] }, problems: ['the container must be a JSON object'] };
  const version = String(raw.version ?? '');
  const triggers = keep<Trigger>(raw.triggers, 'triggers', problems, triggerProblem);
  const ids = new Set(triggers.map((t) => t.id));
  const variables = keep<Variable>(raw.variables, 'variables', problems, variableProblem);
  const tags = keep<Tag>(raw.tags, 'tags', problems, (t, where) => tagProblem(t, where, ids));
  return { container: { version, tags, triggers, variables }, problems };
}
