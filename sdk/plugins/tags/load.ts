// How the browser reads a container. Served containers were already validated by the collector
// (validate.ts) and inline ones come from the site owner, so the browser does not repeat that
// field-by-field validation: it leaves out, with one debug message each, only the parts that would
// throw outside a tag's own try/catch or do harm (see the checks below). Anything else odd at most
// stops its own tag: the tag manager catches and logs each tag's failure when it runs.
import { isBag, type Bag } from '../shape';
import { httpSrc, isTextMatch, tagTypes, triggerTypes, type Container, type Tag, type Trigger } from './container';

/** The parts of a container the tag manager uses. */
export type Loaded = Pick<Container, 'tags' | 'triggers' | 'variables'>;

/**
 * Why the browser cannot use a trigger: an unknown type, a condition that would match everything (an
 * empty selector, a misspelt url or path condition, properties that are not an object), or a selector or
 * regex it cannot parse.
 */
function triggerProblem(trigger: Trigger): string | undefined {
  if (!triggerTypes.includes(trigger.type)) return `type ${trigger.type} is unknown`;
  if (trigger.selector !== undefined && !(typeof trigger.selector === 'string' && trigger.selector)) return 'selector must be a non-empty string';
  for (const field of ['url', 'path'] as const) {
    if (trigger[field] !== undefined && !isTextMatch(trigger[field])) return `${field} must be an object of equals, contains, startsWith or regex`;
  }
  if (trigger.properties !== undefined && !isBag(trigger.properties)) return 'properties must be an object';
  try {
    // Parsed once here, so matching them later cannot throw.
    if (trigger.selector) document.querySelector(trigger.selector);
    new RegExp(trigger.url?.regex ?? '');
    new RegExp(trigger.path?.regex ?? '');
  } catch (error) {
    return String(error); // names the selector or the regex
  }
}

/** Why the browser will not run a tag: an unknown type, purposes it cannot check, or a script or pixel URL that is not http(s). */
function tagProblem(tag: Tag): string | undefined {
  if (!tagTypes.includes(tag.type)) return `type ${tag.type} is unknown`;
  // A tag whose purposes are not a list must not fire as if it needed none.
  if (tag.purposes !== undefined && !Array.isArray(tag.purposes)) return 'purposes must be an array';
  // Security: inline containers never pass the collector.
  if ((tag.type === 'script' || tag.type === 'pixel') && !(typeof tag.src === 'string' && httpSrc.test(tag.src))) return 'src must be an http(s) URL';
}

/** Reads a container for the browser: the unusable parts are left out, each with a debug message. */
export function loadContainer(raw: unknown, log: (...args: unknown[]) => void): Loaded {
  if (!isBag(raw)) {
    log('container: the container must be a JSON object (ignored)');
    raw = {};
  }
  const usable = <T>(name: keyof Loaded, problem?: (item: T) => string | undefined): T[] => {
    let list = (raw as Bag)[name] ?? [];
    if (!Array.isArray(list)) {
      log('container:', name, 'must be an array (ignored)');
      list = [];
    }
    return (list as unknown[]).filter((item, i) => {
      const why = isBag(item) ? problem?.(item as T) : 'must be an object';
      if (why) log('container:', `${name}[${i}]`, why, '(ignored)');
      return !why;
    }) as T[];
  };
  return { triggers: usable('triggers', triggerProblem), variables: usable('variables'), tags: usable('tags', tagProblem) };
}
