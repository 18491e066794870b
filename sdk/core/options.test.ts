import { describe, expect, it } from 'vitest';
import { resolveOptions, TagflowOptionsError } from './options';

describe('resolveOptions', () => {
  it('fills defaults and trims the trailing slash of the endpoint', () => {
    const options = resolveOptions({ writeKey: 'wk', endpoint: 'https://collect.example.com/' });
    expect(options).toEqual({ writeKey: 'wk', endpoint: 'https://collect.example.com', batchSize: 20, flushInterval: 1000, debug: false });
  });

  it('refuses a missing write key with one clear message', () => {
    expect(() => resolveOptions({ writeKey: '', endpoint: 'https://c.example.com' })).toThrow(TagflowOptionsError);
    expect(() => resolveOptions({ writeKey: ' ', endpoint: 'https://c.example.com' })).toThrow(/writeKey is required/);
  });

  it('refuses an endpoint that is not an http(s) URL', () => {
    expect(() => resolveOptions({ writeKey: 'wk', endpoint: 'collect.example.com' })).toThrow(/endpoint must be an http\(s\) URL/);
    expect(() => resolveOptions({ writeKey: 'wk', endpoint: 'ftp://collect.example.com' })).toThrow(TagflowOptionsError);
  });
});
