import { describe, expect, it } from 'vitest';
import { createTagflow } from './create';
import { resolveOptions, TagflowOptionsError } from './options';
import type { TagflowOptions } from './types';

describe('resolveOptions', () => {
  it('fills defaults and trims the trailing slash of the endpoint', () => {
    const options = resolveOptions({ writeKey: 'wk', endpoint: 'https://collect.example.com/' });
    expect(options).toEqual({
      writeKey: 'wk',
      endpoint: 'https://collect.example.com',
      batchSize: 20,
      batchBytes: 60_000,
      flushInterval: 1000,
      maxQueueEvents: 10_000,
      maxQueueAge: 7 * 24 * 3600 * 1000,
      debug: false,
    });
  });

  it('keeps given options and treats an explicit undefined as the default', () => {
    const options = resolveOptions({ writeKey: 'wk', endpoint: 'http://127.0.0.1:8080', batchSize: 5, flushInterval: undefined, cookieDomain: '.example.com', debug: true });
    expect(options).toMatchObject({ endpoint: 'http://127.0.0.1:8080', batchSize: 5, flushInterval: 1000, cookieDomain: '.example.com', debug: true });
  });

  it('names its error after its class, like a built-in error', () => {
    const error = (() => {
      try {
        resolveOptions({ writeKey: '', endpoint: 'https://c.example.com' });
      } catch (thrown) {
        return thrown as Error;
      }
    })();
    expect(error).toMatchObject({ name: 'TagflowOptionsError', code: 'TAGFLOW_OPTIONS' });
    expect(String(error)).toBe('TagflowOptionsError: Tagflow: writeKey is required');
  });

  it('refuses a missing write key with one clear message', () => {
    expect(() => resolveOptions({ writeKey: '', endpoint: 'https://c.example.com' })).toThrow(TagflowOptionsError);
    expect(() => resolveOptions({ writeKey: ' ', endpoint: 'https://c.example.com' })).toThrow(/^Tagflow: writeKey is required$/);
    expect(() => resolveOptions(undefined as unknown as TagflowOptions)).toThrow(/writeKey is required/);
  });

  it('refuses an endpoint that is not an http(s) URL', () => {
    expect(() => resolveOptions({ writeKey: 'wk', endpoint: 'collect.example.com' })).toThrow(/endpoint must be an http\(s\) URL: collect\.example\.com/);
    expect(() => resolveOptions({ writeKey: 'wk', endpoint: 'ftp://collect.example.com' })).toThrow(TagflowOptionsError);
    expect(() => resolveOptions({ writeKey: 'wk', endpoint: 'http://' })).toThrow(TagflowOptionsError);
    expect(() => resolveOptions({ writeKey: 'wk' } as TagflowOptions)).toThrow(/endpoint must be an http\(s\) URL/);
  });

  it('checks the scheme of the parsed URL, so its case and surrounding spaces do not matter', () => {
    expect(resolveOptions({ writeKey: 'wk', endpoint: ' HTTPS://Collect.example.com/ ' }).endpoint).toBe('https://collect.example.com');
    expect(() => resolveOptions({ writeKey: 'wk', endpoint: ' FTP://collect.example.com' })).toThrow(TagflowOptionsError);
  });

  it('refuses numeric options that are not positive numbers, naming the option', () => {
    expect(() => resolveOptions({ writeKey: 'wk', endpoint: 'https://c.example.com', batchSize: 0 })).toThrow(/batchSize must be a positive number: 0/);
    expect(() => resolveOptions({ writeKey: 'wk', endpoint: 'https://c.example.com', maxQueueAge: -1 })).toThrow(/maxQueueAge must be a positive number/);
    expect(() => resolveOptions({ writeKey: 'wk', endpoint: 'https://c.example.com', batchBytes: Number.NaN })).toThrow(TagflowOptionsError);
  });

  it('makes createTagflow fail with the same error and code', () => {
    let error: unknown;
    try {
      createTagflow({ writeKey: 'wk', endpoint: 'nope' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(TagflowOptionsError);
    expect((error as TagflowOptionsError).code).toBe('TAGFLOW_OPTIONS');
  });
});
