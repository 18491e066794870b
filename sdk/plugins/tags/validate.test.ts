import { describe, expect, it } from 'vitest';
import { readContainer } from './validate';

const valid = {
  version: 3,
  triggers: [
    { id: 'checkout', type: 'page', path: { startsWith: '/checkout' } },
    { id: 'buy', type: 'click', selector: '#buy' },
    { id: 'order', type: 'track', event: 'Order Completed', properties: { currency: 'EUR' } },
    { id: 'dl', type: 'dataLayer', event: 'lead', url: { regex: 'example\\.com' } },
  ],
  variables: [{ name: 'revenue', type: 'property', key: 'revenue' }, { name: 'k', type: 'constant', value: 1 }],
  tags: [
    { id: 'pixel', type: 'pixel', src: 'https://ads.example.com/p?v={{revenue}}', triggers: ['order'], purposes: ['marketing'], waitForConsent: true },
    { id: 'fwd', type: 'dataLayer', data: { event: 'tf_buy' }, triggers: ['buy', 'checkout'] },
    { id: 'fn', type: 'global', name: 'fbq', args: ['track', 'Purchase'], triggers: ['dl'] },
    { id: 'js', type: 'script', src: '//cdn.example.com/x.js', triggers: ['checkout'] },
  ],
};

describe('readContainer', () => {
  it('keeps a valid container whole', () => {
    const read = readContainer(valid);
    expect(read.problems).toEqual([]);
    expect(read.container).toEqual({ ...valid, version: '3' });
  });

  it('refuses what is not an object', () => {
    expect(readContainer('{"tags": []}').problems).toEqual(['the container must be a JSON object']);
    expect(readContainer(null).container.tags).toEqual([]);
  });

  it.each([
    [{ triggers: 'x', tags: [] }, 'triggers must be an array'],
    [{ triggers: [...valid.triggers, { id: 't', type: 'hover' }] }, 'triggers[4].type must be one of page, track, click, submit, dataLayer'],
    [{ triggers: [...valid.triggers, { id: 't', type: 'track' }] }, 'triggers[4].event must be a non-empty string'],
    [{ triggers: [...valid.triggers, { id: 't', type: 'page', url: { like: 'x' } }] }, 'triggers[4].url must be an object of equals, contains, startsWith or regex'],
    [{ triggers: [...valid.triggers, { id: 't', type: 'page', path: { regex: '(' } }] }, 'triggers[4].path.regex is not a valid regex'],
    [{ triggers: [...valid.triggers, { id: 't', type: 'track', event: 'e', properties: { a: {} } }] }, 'triggers[4].properties must hold strings, numbers or booleans'],
    [{ tags: [{ id: 'a', type: 'iframe', triggers: ['x'] }] }, 'tags[0].type must be one of script, pixel, dataLayer, global'],
    [{ tags: [{ id: 'a', type: 'pixel', triggers: ['nope'], src: 'https://x' }] }, 'tags[0].triggers[0] names no valid trigger'],
    [{ tags: [{ id: 'a', type: 'script', triggers: ['checkout'], src: 'javascript:alert(1)' }] }, 'tags[0].src must be an http(s) URL'],
    [{ tags: [{ id: 'a', type: 'script', triggers: ['checkout'], src: '{{from_url}}' }] }, 'tags[0].src must be an http(s) URL'],
    [{ tags: [{ id: 'a', type: 'pixel', triggers: ['checkout'], src: 'https://{{host}}/p' }] }, 'tags[0].src must be an http(s) URL'],
    [{ tags: [{ id: 'a', type: 'pixel', triggers: ['checkout'], src: 'https://cdn.example.com{{v}}/t.js' }] }, 'tags[0].src must be an http(s) URL'],
    [{ tags: [{ id: 'a', type: 'pixel', triggers: ['checkout'], src: 'https://cdn.example.com?h={{v}}' }] }, 'tags[0].src must be an http(s) URL'],
    [{ tags: [{ id: 'a', type: 'pixel', triggers: ['checkout'], src: 'https://cdn.example.com' }] }, 'tags[0].src must be an http(s) URL'],
    [{ tags: [{ id: 'a', type: 'global', triggers: ['checkout'], name: 'alert(1)' }] }, 'tags[0].name must be a dotted function path'],
    [{ tags: [{ id: 'a', type: 'global', triggers: ['checkout'], name: 'fbq', args: 'x' }] }, 'tags[0].name must be a dotted function path'],
    [{ tags: [{ id: 'a', type: 'dataLayer', triggers: ['checkout'] }] }, 'tags[0].data must be an object'],
    [{ variables: [{ name: 'x y', type: 'constant' }] }, 'variables[0].name must be letters, digits or _'],
    [{ variables: [{ name: 'x', type: 'cookie' }] }, 'variables[0].key must be a non-empty string'],
  ])('names the field, case %#', (change, problem) => {
    const read = readContainer({ ...valid, ...change });
    expect(read.problems).toEqual([problem]);
  });

  it('drops only the faulty items', () => {
    const read = readContainer({ ...valid, triggers: [...valid.triggers, { id: 'bad', type: 'hover' }] });
    expect(read.container.triggers).toHaveLength(4);
    expect(read.container.tags).toHaveLength(4);
  });
});
