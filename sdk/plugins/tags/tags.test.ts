import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createPluginHost } from '../../../test/support/plugin-host';
import { render, variableValue } from './evaluate';
import { tagsPlugin, type TagsOptions } from './tags';

type W = Window & { dataLayer?: unknown[]; fired?: unknown[][]; notAFunction?: number };
let undo: (() => void) | undefined;

beforeEach(() => {
  document.body.innerHTML = '<button id="buy"><span>Buy</span></button><button id="other">Other</button><form id="f"></form>';
  document.head.innerHTML = '';
  history.replaceState(null, '', '/checkout/pay?ref=mail');
  (window as W).fired = [];
  (window as W & { record?: unknown }).record = (...args: unknown[]) => (window as W).fired?.push(args);
});
afterEach(() => {
  undo?.();
  delete (window as W).dataLayer;
});

function start(options: TagsOptions) {
  const host = createPluginHost();
  const plugin = tagsPlugin({ globals: ['record', 'notAFunction'], ...options });
  const setup = plugin.setup!;
  plugin.setup = (api) => {
    const result = setup(api);
    undo = typeof result === 'function' ? result : undefined;
    return result;
  };
  host.use(plugin);
  return host;
}

const container = {
  version: '1',
  triggers: [
    { id: 'checkout', type: 'page', path: { startsWith: '/checkout' } },
    { id: 'home', type: 'page', path: { equals: '/' } },
    { id: 'buy', type: 'click', selector: '#buy' },
    { id: 'send', type: 'submit', selector: 'form#f' },
    { id: 'order', type: 'track', event: 'Order Completed', properties: { currency: 'EUR' } },
    { id: 'lead', type: 'dataLayer', event: 'lead' },
    { id: 'broken', type: 'click', selector: 'div[' },
    { id: 'odd', type: 'hover' },
  ],
  variables: [
    { name: 'revenue', type: 'property', key: 'revenue' },
    { name: 'ref', type: 'url', key: 'ref' },
    { name: 'lead_value', type: 'dataLayer', key: 'value' },
    { name: 'site', type: 'constant', value: 'shop' },
  ],
  tags: [
    { id: 'on-checkout', type: 'global', name: 'record', args: ['checkout', '{{ref}}', '{{site}}'], triggers: ['checkout'] },
    { id: 'on-home', type: 'global', name: 'record', args: ['home'], triggers: ['home'] },
    { id: 'ads', type: 'dataLayer', data: { event: 'ads_conversion', value: '{{revenue}}' }, triggers: ['order'], purposes: ['marketing'], waitForConsent: true },
    { id: 'ads-nowait', type: 'global', name: 'record', args: ['nowait'], triggers: ['order'], purposes: ['marketing'] },
    { id: 'click', type: 'global', name: 'record', args: ['click'], triggers: ['buy'] },
    { id: 'submit', type: 'global', name: 'record', args: ['submit'], triggers: ['send'] },
    { id: 'lead', type: 'global', name: 'record', args: ['lead', '{{lead_value}}'], triggers: ['lead'] },
    { id: 'script', type: 'script', src: 'https://cdn.example.com/t.js?r={{ref}}&s=a b', triggers: ['checkout'] },
    { id: 'broken-click', type: 'global', name: 'record', args: ['broken'], triggers: ['broken'] },
    { id: 'missing-fn', type: 'global', name: 'notAFunction', triggers: ['checkout'] },
  ],
};

function fakeConsent(granted: string[]) {
  const listeners: (() => void)[] = [];
  return {
    grant(purpose: string) {
      granted.push(purpose);
      listeners.forEach((l) => l());
    },
    granted: (wanted: string[]) => wanted.every((p) => granted.includes(p)),
    onChange: (l: () => void) => listeners.push(l),
  };
}

const fired = () => (window as W).fired;

describe('tags plugin', () => {
  it('fires page, click, submit and dataLayer triggers with variables; ignores bad parts with debug messages', () => {
    const host = start({ container, nonce: 'n0nce' });
    host.tagflow.page();
    document.querySelector('#buy span')!.dispatchEvent(new MouseEvent('click', { bubbles: true }));
    document.querySelector('#other')!.dispatchEvent(new MouseEvent('click', { bubbles: true }));
    document.querySelector('form')!.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
    (window as W).dataLayer!.push({ value: 42 }, { event: 'lead' });
    expect(fired()).toEqual([['checkout', 'mail', 'shop'], ['click'], ['submit'], ['lead', 42]]);
    const script = document.head.querySelector('script');
    expect(script?.src).toBe('https://cdn.example.com/t.js?r=mail&s=a%20b');
    expect(script?.nonce).toBe('n0nce');
    expect(host.logs).toContain('tags: container: triggers[7] type hover is unknown (ignored)');
    expect(host.logs.some((l) => l.startsWith('tags: container: triggers[6] ') && l.includes("'div[' is not a valid selector"))).toBe(true);
    expect(host.logs).toContain('tags: tag missing-fn failed: Error: notAFunction is not a function');
  });

  it('calls only the global functions the page allows; the container cannot widen the list', () => {
    const html = '<img src=x onerror="window.fired.push(1)">';
    const evil = {
      version: 'evil',
      triggers: [{ id: 'all', type: 'page' }],
      variables: [{ name: 'q', type: 'url', key: 'ref' }],
      tags: [
        { id: 'xss', type: 'global', name: 'document.body.insertAdjacentHTML', args: ['beforeend', html], triggers: ['all'] },
        { id: 'reflected', type: 'global', name: 'document.body.insertAdjacentHTML', args: ['beforeend', '{{q}}'], triggers: ['all'] },
        { id: 'ok', type: 'global', name: 'record', args: ['ok'], triggers: ['all'] },
      ],
    };
    const body = document.body.innerHTML;
    start({ container: evil, globals: ['record'] }).tagflow.page();
    expect(fired()).toEqual([['ok']]);
    expect(document.body.innerHTML).toBe(body);
    const host = start({ container: evil, globals: undefined }); // the default: none
    host.tagflow.page();
    expect(fired()).toEqual([['ok']]);
    expect(host.logs).toContain('tags: tag xss failed: Error: document.body.insertAdjacentHTML is not in globals');
    expect(host.logs).toContain('tags: tag ok failed: Error: record is not in globals');
  });

  it('holds a tag that needs marketing until it is granted, when the container says so', () => {
    const consent = fakeConsent(['analytics']);
    const host = start({ container, consent });
    host.tagflow.track('Order Completed', { currency: 'EUR', revenue: 120 });
    host.tagflow.track('Order Completed', { currency: 'USD', revenue: 1 });
    expect([...(window as W).dataLayer!]).toEqual([]);
    expect(host.logs).toContain('tags: tag ads-nowait needs consent for marketing');
    consent.grant('marketing');
    expect([...(window as W).dataLayer!]).toEqual([{ event: 'ads_conversion', value: 120 }]);
    consent.grant('other');
    expect((window as W).dataLayer).toHaveLength(1);
  });

  it('sees each event once, also when a consent plugin replays it', () => {
    const host = start({ container });
    host.tagflow.page();
    const [view] = host.queued;
    host.use({ name: 'replay', setup: (api) => api.enqueue(view!) }); // as consent releases a held event
    expect(host.queued).toHaveLength(2);
    expect(fired()?.filter((f) => f[0] === 'checkout')).toHaveLength(1);
  });

  it('never triggers tags with its own dataLayer push, also when a tag fired during that push', () => {
    // A dataLayer watcher installed before the tag manager's (another tool's) hears the push first and
    // tracks an event synchronously, which fires a tag before the tag manager's own watcher hears the push.
    const layer: unknown[] = ((window as W).dataLayer = []);
    let track = (_: string) => undefined as unknown;
    const push = layer.push;
    layer.push = function (this: unknown[], ...entries: unknown[]) {
      const length = push.apply(this, entries);
      if (entries.some((e) => (e as { event?: string }).event === 'ads_conversion')) track('Converted');
      return length;
    };
    const host = start({
      container: {
        triggers: [
          { id: 'order', type: 'track', event: 'Order Completed' },
          { id: 'converted', type: 'track', event: 'Converted' },
          { id: 'conversion-push', type: 'dataLayer', event: 'ads_conversion' },
        ],
        tags: [
          { id: 'push', type: 'dataLayer', data: { event: 'ads_conversion' }, triggers: ['order'] },
          { id: 'on-converted', type: 'global', name: 'record', args: ['converted'], triggers: ['converted'] },
          { id: 'on-push', type: 'global', name: 'record', args: ['loop'], triggers: ['conversion-push'] },
        ],
      },
    });
    track = (event) => host.tagflow.track(event);
    host.tagflow.track('Order Completed');
    expect(fired()).toEqual([['converted']]);
    layer.push({ event: 'ads_conversion' }); // the page's own push still triggers tags
    expect(fired()).toEqual([['converted'], ['converted'], ['loop']]);
  });

  it('evaluates events that came before the container', async () => {
    let answer: (r: Response) => void = () => undefined;
    const originalFetch = globalThis.fetch;
    globalThis.fetch = () => new Promise<Response>((r) => (answer = r));
    try {
      const host = start({ url: 'https://collect.example.com/v1/container/k' });
      host.tagflow.page();
      expect(fired()).toEqual([]);
      answer(new Response(JSON.stringify(container), { status: 200 }));
      await vi.waitFor(() => expect(fired()?.[0]).toEqual(['checkout', 'mail', 'shop']));
    } finally {
      globalThis.fetch = originalFetch;
    }
  });

  it('ignores a malformed container with a debug message, and the page goes on', () => {
    const host = start({ container: ['not', 'a', 'container'] });
    host.tagflow.page();
    expect(host.queued).toHaveLength(1);
    expect(host.logs).toEqual(['tags: container: the container must be a JSON object (ignored)']);
  });
});

describe('render', () => {
  it('keeps whole-placeholder values typed and encodes inside URLs only when asked', () => {
    const lookup = (name: string) => ({ n: 5, s: 'a&b', o: { x: 1 } })[name];
    expect(render({ a: '{{n}}', b: ['x {{s}}', '{{o}}'], c: 3 }, lookup)).toEqual({ a: 5, b: ['x a&b', { x: 1 }], c: 3 });
    expect(render('https://x/?q={{s}}&m={{missing}}', lookup, true)).toBe('https://x/?q=a%26b&m=');
  });
});

describe('variableValue', () => {
  it('reads cookies by exact name (no regex, no prefix match) and decodes them', () => {
    document.cookie = 'xab=wrong';
    document.cookie = 'ab=caf%C3%A9%20bar';
    document.cookie = 'a.b+c=dotted';
    const cookie = (key: string) => variableValue({ name: 'c', type: 'cookie', key }, { type: 'page' });
    expect(cookie('ab')).toBe('café bar');
    expect(cookie('a.b+c')).toBe('dotted');
    expect(cookie('a')).toBeUndefined();
    expect(cookie('(')).toBeUndefined();
  });

  it('gives a cookie that is not URI-encoded (a stray %) as it is, and the tag that reads it fires', () => {
    document.cookie = 'weird=50%off%E0%A4%A';
    expect(variableValue({ name: 'c', type: 'cookie', key: 'weird' }, { type: 'page' })).toBe('50%off%E0%A4%A');
    start({
      container: { triggers: [{ id: 'all', type: 'page' }], variables: [{ name: 'c', type: 'cookie', key: 'weird' }], tags: [{ id: 't', type: 'global', name: 'record', args: ['{{c}}'], triggers: ['all'] }] },
    }).tagflow.page();
    expect(fired()).toEqual([['50%off%E0%A4%A']]);
  });
});
