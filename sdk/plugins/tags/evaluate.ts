// Trigger matching and variable values: plain functions over a trigger input, no code from the
// container is ever evaluated (regexes are only matched).
import { readCookie } from '../../core/storage';
import type { TagflowEvent } from '../../core/types';
import { isBag } from '../shape';
import type { TextMatch, Trigger, TriggerType, Variable } from './container';

/** Something that happened on the page, as the triggers see it. */
export interface TriggerInput {
  type: TriggerType;
  /** page, track: the event. */
  event?: TagflowEvent;
  /** click, submit: the element clicked or the form submitted. */
  element?: Element;
  /** dataLayer: the pushed object. */
  data?: Record<string, unknown>;
}

/** True when `text` meets every condition of `match`. */
export function matchText(match: TextMatch, text: string): boolean {
  // A condition not given is met: '' is contained in and starts every text, and an empty regex matches.
  return (match.equals ?? text) === text && text.includes(match.contains ?? '') && text.startsWith(match.startsWith ?? '') && new RegExp(match.regex ?? '').test(text);
}

/** The value at a dotted path of an object, e.g. `ecommerce.value`. */
export function atPath(from: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((value, key) => (typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined), from);
}

/** True when the trigger matches the input. Selectors must have been checked to parse. */
export function triggerMatches(trigger: Trigger, input: TriggerInput): boolean {
  if (trigger.type !== input.type) return false;
  const page = input.event?.context.page;
  if (trigger.url && !matchText(trigger.url, page?.url ?? location.href)) return false;
  if (trigger.path && !matchText(trigger.path, page?.path ?? location.pathname)) return false;
  if (trigger.selector && !input.element?.closest(trigger.selector)) return false;
  if (input.type === 'track' && trigger.event !== input.event?.event) return false;
  if (input.type === 'dataLayer' && trigger.event !== input.data?.event) return false;
  return Object.entries(trigger.properties ?? {}).every(([key, value]) => input.event?.properties?.[key] === value);
}

/** The value of a variable for this input. dataLayer paths read the latest push that has them. */
export function variableValue(variable: Variable, input: TriggerInput, dataLayer: unknown[] = []): unknown {
  const key = variable.key ?? '';
  switch (variable.type) {
    case 'constant':
      return variable.value;
    case 'url':
      return new URL(location.href).searchParams.get(key) ?? undefined;
    case 'cookie': {
      const value = readCookie(key);
      try {
        return value && decodeURIComponent(value);
      } catch {
        return value; // not URI-encoded after all (a stray %): the raw text, rather than failing the tag
      }
    }
    case 'property':
      return atPath(input.event?.properties ?? input.data, key);
    case 'dataLayer':
      for (let i = dataLayer.length - 1; i >= 0; i--) {
        const value = atPath(dataLayer[i], key);
        if (value !== undefined) return value;
      }
      return undefined;
  }
}

/**
 * Fills `{{name}}` placeholders in strings (deeply). A string that is exactly one placeholder takes the
 * value as is (a number stays a number); inside a longer string values are text, URL-encoded if asked.
 */
export function render(template: unknown, lookup: (name: string) => unknown, encode = false): unknown {
  if (typeof template === 'string') {
    const whole = /^\{\{(\w+)\}\}$/.exec(template);
    if (whole) return lookup(whole[1]!);
    return template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
      const value = lookup(name);
      const text = value === undefined || value === null ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
      return encode ? encodeURIComponent(text) : text;
    });
  }
  if (Array.isArray(template)) return template.map((item) => render(item, lookup, encode));
  if (isBag(template)) {
    return Object.fromEntries(Object.entries(template).map(([key, value]) => [key, render(value, lookup, encode)]));
  }
  return template;
}
