// A stand-in for the SDK core in happy-dom unit tests of plugins: it implements the plugin contract
// (sdk/core/plugin.ts) in memory and records what plugins ask of it. The real core is exercised by the
// Chromium tests in test/browser/.
import type { DeliveryPolicy, PluginApi, TagflowPlugin } from '../../sdk/core/plugin';
import type { EventType, Properties, Tagflow, TagflowEvent } from '../../sdk/core/types';

export interface PluginHost {
  tagflow: Tagflow;
  /** Events that passed every beforeQueue hook, in order. */
  queued: TagflowEvent[];
  policy: DeliveryPolicy;
  context: Record<string, unknown>;
  logs: string[];
  clearQueueCalls: number;
  /** How often a plugin called `api.erase()`. */
  eraseCalls: number;
  use(plugin: TagflowPlugin): void;
  /** Names (event or page name) of queued events of one type. */
  names(type?: EventType): string[];
}

export function createPluginHost(): PluginHost {
  const plugins: TagflowPlugin[] = [];
  let counter = 0;
  const host = {} as PluginHost;
  const pass = (event: TagflowEvent, skip?: TagflowPlugin) => {
    let current: TagflowEvent | null = event;
    for (const plugin of plugins) {
      if (plugin === skip || !current || !plugin.beforeQueue) continue;
      current = plugin.beforeQueue(current);
    }
    if (!current) return;
    host.queued.push(current);
    for (const plugin of plugins) plugin.afterQueue?.(current);
  };
  const build = (type: EventType, fields: Partial<TagflowEvent>): TagflowEvent => ({
    type,
    messageId: `m-${++counter}`,
    anonymousId: 'anon-1',
    timestamp: new Date().toISOString(),
    context: {
      library: { name: 'tagflow', version: 'test' },
      page: { url: location.href, path: location.pathname, referrer: document.referrer, title: document.title, search: location.search },
      ...structuredClone(host.context),
    },
    ...fields,
  });
  const tagflow = {
    track: (event: string, properties?: Properties) => pass(build('track', { event, properties: properties ?? {} })),
    page: (name?: string, properties?: Properties) => pass(build('page', { ...(name ? { name } : {}), properties: properties ?? {} })),
    identify: (userId?: string, traits?: Properties) => pass(build('identify', { ...(userId ? { userId } : {}), traits: traits ?? {} })),
    flush: async () => undefined,
  };
  Object.assign(host, {
    tagflow: tagflow as unknown as Tagflow,
    queued: [],
    policy: { persist: true, send: true },
    context: {},
    logs: [],
    clearQueueCalls: 0,
    eraseCalls: 0,
    use(plugin: TagflowPlugin) {
      plugins.push(plugin);
      const api: PluginApi = {
        tagflow: tagflow as unknown as Tagflow,
        log: (...args: unknown[]) => host.logs.push(args.map(String).join(' ')),
        enqueue: (event) => pass(event, plugin),
        setPolicy: (policy) => Object.assign(host.policy, policy),
        clearQueue: async () => {
          host.clearQueueCalls++;
        },
        // As the core does: every plugin's erase hook (the core also erases its own identity and queue).
        erase: async () => {
          host.eraseCalls++;
          for (const other of plugins) other.erase?.();
        },
        setContext: (key, value) => {
          if (value === undefined) delete host.context[key];
          else host.context[key] = value;
        },
      };
      plugin.setup?.(api);
    },
    names: (type?: EventType) => host.queued.filter((e) => !type || e.type === type).map((e) => e.event ?? e.name ?? e.type),
  });
  return host;
}
