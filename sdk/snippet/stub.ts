// The paste-in stub (must stay under 1 KB minified). It defines window.tagflow as a queue of calls,
// loads the full SDK asynchronously and sends the first page view. The SDK replays the queue in order.
// `__TAGFLOW_CONFIG__` is replaced with {"writeKey", "endpoint", "src"} when the snippet is rendered.
import type { QueuedCall, SnippetQueue } from './queue';

declare const __TAGFLOW_CONFIG__: SnippetQueue['config'];

(function (w: Window & { tagflow?: SnippetQueue | object }, d: Document, config: SnippetQueue['config']) {
  const existing = w.tagflow;
  if (existing && !Array.isArray(existing)) return; // the SDK is already running
  if (existing && (existing as SnippetQueue).config) return; // snippet pasted twice
  const queue = (existing ?? []) as SnippetQueue;
  queue.config = config;
  // With the page it was made on: a single-page app may route (pushState) before the SDK arrives.
  const record = (call: QueuedCall) => queue.push(Object.assign(call, { href: location.href, title: d.title }));
  for (const method of ['track', 'page', 'identify', 'alias', 'group', 'reset', 'flush', 'use']) {
    (queue as unknown as Record<string, unknown>)[method] = function (...args: unknown[]) {
      record([method, ...args]);
      return queue;
    };
  }
  w.tagflow = queue;
  const script = d.createElement('script');
  script.async = true;
  script.src = config.src;
  (d.head || d.documentElement).appendChild(script);
  record(['page']);
})(window, document, __TAGFLOW_CONFIG__);
