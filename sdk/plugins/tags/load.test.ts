import { describe, expect, it } from 'vitest';
import { loadContainer } from './load';

const valid = {
  version: '1',
  triggers: [
    { id: 'checkout', type: 'page', path: { startsWith: '/checkout' } },
    { id: 'buy', type: 'click', selector: '#buy' },
    { id: 'lead', type: 'dataLayer', event: 'lead', url: { regex: 'example\\.com' } },
  ],
  variables: [{ name: 'k', type: 'constant', value: 1 }],
  tags: [
    { id: 'pixel', type: 'pixel', src: 'https://ads.example.com/p?v={{k}}', triggers: ['lead'], purposes: ['marketing'] },
    { id: 'js', type: 'script', src: '//cdn.example.com/x.js', triggers: ['checkout'] },
    { id: 'fwd', type: 'dataLayer', data: { event: 'tf_buy' }, triggers: ['buy'] },
    { id: 'fn', type: 'global', name: 'fbq', args: ['track'], triggers: ['buy'] },
  ],
};

function load(raw: unknown) {
  const logs: string[] = [];
  const loaded = loadContainer(raw, (...args) => logs.push(args.map(String).join(' ')));
  return { ...loaded, logs };
}

describe('loadContainer (the browser reading)', () => {
  it('keeps a valid container whole, silently', () => {
    const { logs, ...loaded } = load(valid);
    expect(logs).toEqual([]);
    expect(loaded).toEqual({ triggers: valid.triggers, variables: valid.variables, tags: valid.tags });
  });

  it.each([null, 'tags: none', ['a'], 3])('ignores a container that is not an object: %j', (raw) => {
    expect(load(raw)).toEqual({ triggers: [], variables: [], tags: [], logs: ['container: the container must be a JSON object (ignored)'] });
  });

  it.each(['triggers', 'variables', 'tags'])('ignores %s that is not an array', (name) => {
    const { logs, ...loaded } = load({ ...valid, [name]: 5 });
    expect(loaded[name as keyof typeof loaded]).toEqual([]);
    expect(logs).toEqual([`container: ${name} must be an array (ignored)`]);
  });

  it.each(['triggers', 'variables', 'tags'])('ignores an item of %s that is not an object, and keeps the others', (name) => {
    const list = valid[name as 'tags'];
    const { logs, ...loaded } = load({ ...valid, [name]: [null, ...list] });
    expect(loaded[name as keyof typeof loaded]).toEqual(list);
    expect(logs).toEqual([`container: ${name}[0] must be an object (ignored)`]);
  });

  it.each([
    [{ id: 't', type: 'hover' }, 'type hover is unknown'],
    [{ id: 't', type: 'click', selector: 'div[' }, "'div[' is not a valid selector"],
    [{ id: 't', type: 'page', url: { regex: '(' } }, 'Invalid regular expression'],
    [{ id: 't', type: 'page', path: { regex: '[' } }, 'Invalid regular expression'],
    // Conditions the matcher cannot use would match every page, click or event.
    [{ id: 't', type: 'click', selector: '' }, 'selector must be a non-empty string'],
    [{ id: 't', type: 'click', selector: 5 }, 'selector must be a non-empty string'],
    [{ id: 't', type: 'page', path: { equal: '/checkout' } }, 'path must be an object of equals, contains, startsWith or regex'],
    [{ id: 't', type: 'page', path: {} }, 'path must be an object of equals, contains, startsWith or regex'],
    [{ id: 't', type: 'page', url: { equals: null } }, 'url must be an object of equals, contains, startsWith or regex'],
    [{ id: 't', type: 'page', url: '/checkout' }, 'url must be an object of equals, contains, startsWith or regex'],
    [{ id: 't', type: 'page', url: false }, 'url must be an object of equals, contains, startsWith or regex'],
    [{ id: 't', type: 'track', event: 'Order Completed', properties: null }, 'properties must be an object'],
  ])('ignores a trigger the browser cannot use, case %#', (trigger, problem) => {
    const { logs, triggers } = load({ ...valid, triggers: [...valid.triggers, trigger] });
    expect(triggers).toEqual(valid.triggers);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/^container: triggers\[3\] .* \(ignored\)$/);
    expect(logs[0]).toContain(problem);
  });

  it.each([
    [{ id: 'a', type: 'iframe', triggers: ['buy'] }, 'type iframe is unknown'],
    // Purposes that are not a list would otherwise let the tag fire as if it needed no consent.
    [{ id: 'a', type: 'global', name: 'fbq', triggers: ['buy'], purposes: { marketing: true } }, 'purposes must be an array'],
    [{ id: 'a', type: 'global', name: 'fbq', triggers: ['buy'], purposes: null }, 'purposes must be an array'],
    [{ id: 'a', type: 'global', name: 'fbq', triggers: ['buy'], purposes: '' }, 'purposes must be an array'],
    [{ id: 'a', type: 'script', triggers: ['buy'], src: 'javascript:alert(1)' }, 'src must be an http(s) URL'],
    [{ id: 'a', type: 'script', triggers: ['buy'], src: '{{from_url}}' }, 'src must be an http(s) URL'],
    [{ id: 'a', type: 'pixel', triggers: ['buy'], src: 'https://{{host}}/p' }, 'src must be an http(s) URL'],
    [{ id: 'a', type: 'pixel', triggers: ['buy'], src: 'https://cdn.example.com?h={{v}}' }, 'src must be an http(s) URL'],
    [{ id: 'a', type: 'pixel', triggers: ['buy'] }, 'src must be an http(s) URL'],
    [{ id: 'a', type: 'pixel', triggers: ['buy'], src: ['https://cdn.example.com/p'] }, 'src must be an http(s) URL'],
  ])('ignores a tag the browser must not run, case %#', (tag, problem) => {
    const { logs, tags } = load({ ...valid, tags: [...valid.tags, tag] });
    expect(tags).toEqual(valid.tags);
    expect(logs).toEqual([`container: tags[4] ${problem} (ignored)`]);
  });
});
