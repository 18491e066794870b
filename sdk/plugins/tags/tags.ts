// The tag manager plugin: loads a container (inline or from the collector with ETag revalidation),
// fires a tag when one of its triggers matches and its consent purposes are granted, holds it until
// consent arrives when the container says so. Faulty parts of a container are ignored with a debug
// message; one tag's failure never stops another.
import type { PluginApi, TagflowPlugin } from '../../core/plugin';
import { fireTag, watchDataLayer } from '../datalayer';
import { injectScript } from '../script';
import { isBag } from '../shape';
import type { Tag } from './container';
import { render, triggerMatches, variableValue, type TriggerInput } from './evaluate';
import { loadContainer, type Loaded } from './load';

export type { Container, Tag, Trigger, Variable } from './container';

/** What the tag manager needs from a consent manager (the consent plugin is one). */
export interface ConsentSource {
  granted(purposes: string[]): boolean;
  onChange(listener: () => void): unknown;
}

export interface TagsOptions {
  /** The container itself; when absent it is fetched from `url`. */
  container?: unknown;
  /** Where to fetch the container, e.g. `https://collect.example.com/v1/container/WRITE_KEY`. */
  url?: string;
  /** CSP nonce given to injected scripts. */
  nonce?: string;
  /** Consent manager whose purposes tags need; without one every purpose counts as granted. */
  consent?: ConsentSource;
  /** The dataLayer that dataLayer triggers and variables read (default dataLayer). */
  dataLayer?: string;
  /**
   * The global functions `global` tags may call, e.g. `['gtag', 'fbq', '_tmr.push']` (default none).
   * The page decides, not the container: a tag naming anything else is skipped with a debug message.
   */
  globals?: string[];
}


const maxEarly = 50;

/** The tag manager: `tagflow.use(tagsPlugin({ url, consent }))`. */
export function tagsPlugin(options: TagsOptions = {}): TagflowPlugin {
  let container: Loaded | undefined;
  let api: PluginApi | undefined;
  const early: TriggerInput[] = [];
  let held: [Tag, TriggerInput][] = [];
  const seen = new Set<string>();
  const layerName = options.dataLayer ?? 'dataLayer';
  const w = window as unknown as Record<string, unknown>;
  const log = (...args: unknown[]) => api?.log('tags:', ...args);

  /** Runs the tag; a failure is logged, never thrown. */
  const fire = (tag: Tag, input: TriggerInput) => {
    const lookup = (name: string) => {
      const variable = container!.variables.find((v) => v.name === name);
      return variable ? variableValue(variable, input, w[layerName] as unknown[]) : undefined;
    };
    try {
      // What the tag pushes onto a dataLayer is not the site's: no dataLayer watcher of ours (dataLayer triggers,
      // the GA4 bridge, Consent Mode) acts on it, or a container forwarding events to GA4 or GTM would loop.
      fireTag(() => {
        if (tag.type === 'script' || tag.type === 'pixel') {
          const src = render(tag.src, lookup, true) as string; // starts with http(s)://host (checked at load)
          if (tag.type === 'pixel') new Image().src = src;
          else injectScript(src, options.nonce);
        } else if (tag.type === 'dataLayer') {
          ((w[tag.name ?? 'dataLayer'] ??= []) as unknown[]).push(render(tag.data, lookup));
        } else {
          if (!options.globals?.includes(tag.name!)) throw new Error(`${tag.name} is not in globals`);
          const path = tag.name!.split('.');
          const owner = path.slice(0, -1).reduce<unknown>((o, key) => (o as Record<string, unknown> | undefined)?.[key], window) as Record<string, unknown> | undefined;
          const fn = owner?.[path[path.length - 1]!];
          if (typeof fn !== 'function') throw new Error(`${tag.name} is not a function`);
          (fn as (...a: unknown[]) => unknown).apply(owner, render(tag.args ?? [], lookup) as unknown[]);
        }
      });
      log('fired', tag.id);
    } catch (error) {
      log('tag', tag.id, 'failed:', error);
    }
  };

  const allowed = (tag: Tag) => !tag.purposes?.length || !options.consent || options.consent.granted(tag.purposes);

  /**
   * Fires the tag if the input matches one of its triggers (already known when `matched`) and its
   * purposes are granted; else holds it until they are (waitForConsent) or drops it.
   */
  const consider = (tag: Tag, input: TriggerInput, matched?: boolean) => {
    try {
      if (!matched && !tag.triggers.some((id) => container!.triggers.some((t) => t.id === id && triggerMatches(t, input)))) return;
      if (allowed(tag)) fire(tag, input);
      else if (tag.waitForConsent) held.push([tag, input]);
      else log('tag', tag.id, 'needs consent for', tag.purposes?.join(', '));
    } catch (error) {
      log('tag', tag.id, 'failed:', error); // one tag's problem never stops the others
    }
  };

  const handle = (input: TriggerInput) => {
    if (!container) {
      if (early.length < maxEarly) early.push(input);
      return;
    }
    for (const tag of container.tags) consider(tag, input);
  };

  const load = (raw: unknown) => {
    container = loadContainer(raw, log);
    early.splice(0).forEach(handle);
  };

  return {
    name: 'tags',
    setup(a) {
      api = a;
      if (options.container !== undefined) load(options.container);
      else {
        (async () => {
          if (!options.url) throw new Error('no url');
          // no-cache: the browser revalidates with If-None-Match and the collector answers 304 when unchanged.
          const response = await fetch(options.url, { credentials: 'omit', cache: 'no-cache' });
          if (!response.ok) throw new Error(`HTTP ${response.status}`);
          return response.json();
        })().then(load, (error: unknown) => {
          log('container:', error);
          load({});
        });
      }
      const onDom = (event: Event) => {
        if (event.target instanceof Element) handle({ type: event.type === 'submit' ? 'submit' : 'click', element: event.target });
      };
      addEventListener('click', onDom, true);
      addEventListener('submit', onDom, true);
      const stop = watchDataLayer(layerName, (entry) => {
        if (isBag(entry) && typeof entry.event === 'string') {
          handle({ type: 'dataLayer', data: entry });
        }
      });
      options.consent?.onChange(() => {
        const waiting = held;
        held = [];
        for (const [tag, input] of waiting) consider(tag, input, true);
      });
      return () => {
        removeEventListener('click', onDom, true);
        removeEventListener('submit', onDom, true);
        stop();
      };
    },
    beforeQueue(event) {
      // Seen here (not in afterQueue) so tags also see events a consent plugin holds; a held event
      // that comes back through enqueue is recognised by its messageId.
      if ((event.type === 'page' || event.type === 'track') && !seen.has(event.messageId)) {
        if (seen.size > 1000) seen.clear();
        seen.add(event.messageId);
        handle({ type: event.type, event });
      }
      return event;
    },
  };
}
