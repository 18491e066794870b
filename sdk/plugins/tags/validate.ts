// The collector's full validator of a tag container: it refuses a malformed container at start with a
// message naming the field. The browser reads containers more leniently (load.ts), so this stays out of
// the browser builds.

import { isBag, type Bag } from '../shape';
import { httpSrc, isTextMatch, tagTypes, triggerTypes, variableTypes, type Container, type Tag, type Trigger, type Variable } from './container';

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

/**
 * One check of an item: the problem (`field …`, completed by the caller with where the item is) or a
 * falsy value when it passes. An item's rules run in order; the first problem refuses it.
 */
type Rule = (item: Bag, triggerIds: Set<string>) => string | false | undefined;

/** A rule on one field: `ok` tells whether its value (in this item) is acceptable. */
const field =
  (name: string, ok: (value: unknown, item: Bag) => unknown, problem: string): Rule =>
  (item) =>
    !ok(item[name], item) && `${name} ${problem}`;
const optional = (ok: (value: unknown) => unknown) => (value: unknown) => value === undefined || ok(value);
const typeRule = (list: readonly string[]) => field('type', (v) => list.includes(v as string), `must be one of ${list.join(', ')}`);
const nonEmpty = 'must be a non-empty string';

/** A {@link TextMatch} field: optional, only known conditions, all strings, a regex that compiles. */
const textMatch =
  (name: string): Rule =>
  (item) => {
    const m = item[name];
    if (m === undefined) return;
    if (!isTextMatch(m)) return `${name} must be an object of equals, contains, startsWith or regex`;
    try {
      new RegExp(m.regex ?? '');
    } catch {
      return `${name}.regex is not a valid regex`;
    }
  };

const triggerRules: Rule[] = [
  field('id', isText, nonEmpty),
  typeRule(triggerTypes),
  field('event', (v, t) => (t.type !== 'track' && t.type !== 'dataLayer') || isText(v), nonEmpty),
  field('selector', optional(isText), nonEmpty),
  field('properties', optional((v) => isBag(v) && Object.values(v).every((x) => ['string', 'number', 'boolean'].includes(typeof x))), 'must hold strings, numbers or booleans'),
  textMatch('url'),
  textMatch('path'),
];

const tagRules: Rule[] = [
  field('id', isText, nonEmpty),
  typeRule(tagTypes),
  field('triggers', (v) => Array.isArray(v) && v.length, 'must list trigger ids'),
  (t, triggerIds) => {
    const unknown = (t.triggers as string[]).findIndex((id) => !triggerIds.has(id));
    return unknown >= 0 && `triggers[${unknown}] names no valid trigger`;
  },
  field('purposes', optional((v) => Array.isArray(v) && v.every(isText)), 'must be an array of purposes'),
  field('src', (v, t) => (t.type !== 'script' && t.type !== 'pixel') || (isText(v) && httpSrc.test(v)), 'must be an http(s) URL'),
  field('data', (v, t) => t.type !== 'dataLayer' || isBag(v), 'must be an object'),
  field('name', (v, t) => t.type !== 'global' || (isText(v) && globalPath.test(v) && (t.args ?? []) instanceof Array), 'must be a dotted function path'),
];

const variableRules: Rule[] = [
  field('name', (v) => isText(v) && /^\w+$/.test(v), 'must be letters, digits or _'),
  typeRule(variableTypes),
  field('key', (v, t) => t.type === 'constant' || isText(v), nonEmpty),
];

/** Why an item is refused (` must be an object` or `.field …`), or undefined when every rule passes. */
function itemProblem(item: unknown, rules: Rule[], triggerIds: Set<string>): string | undefined {
  if (!isBag(item)) return ' must be an object';
  for (const rule of rules) {
    const problem = rule(item, triggerIds);
    if (problem) return `.${problem}`;
  }
}

/** Keeps the items that pass their rules; the others become problems naming the field. */
function keep<T>(list: unknown, name: string, problems: string[], rules: Rule[], triggerIds = new Set<string>()): T[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) {
    problems.push(`${name} must be an array`);
    return [];
  }
  return list.filter((item, i) => {
    const problem = itemProblem(item, rules, triggerIds);
    if (problem) problems.push(`${name}[${i}]${problem}`);
    return !problem;
  }) as T[];
}

/** Reads a container: valid triggers, variables and tags are kept, the rest reported. Pure. */
export function readContainer(raw: unknown): ReadContainer {
  const problems: string[] = [];
  if (!isBag(raw)) return { container: { version: '', tags: [], triggers: [], variables: [] }, problems: ['the container must be a JSON object'] };
  const version = String(raw.version ?? '');
  const triggers = keep<Trigger>(raw.triggers, 'triggers', problems, triggerRules);
  const variables = keep<Variable>(raw.variables, 'variables', problems, variableRules);
  const tags = keep<Tag>(raw.tags, 'tags', problems, tagRules, new Set(triggers.map((t) => t.id)));
  return { container: { version, tags, triggers, variables }, problems };
}
