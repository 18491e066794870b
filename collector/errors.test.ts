// What the collector answers for errors that never reach a route: Node's HTTP parser's and Fastify's own.
import { describe, expect, it } from 'vitest';
import { clientErrorReply, toErrorReply } from './errors';

const wording = { requestBytes: 512_000, mediaTypes: ['application/json'] };

describe('clientErrorReply', () => {
  it.each([
    ['ERR_HTTP_REQUEST_TIMEOUT', 408, 'request_timeout'],
    ['HPE_HEADER_OVERFLOW', 431, 'headers_too_large'],
    ['HPE_INVALID_CONTENT_LENGTH', 400, 'invalid_content_length'],
    ['HPE_UNEXPECTED_CONTENT_LENGTH', 400, 'invalid_content_length'],
    ['HPE_INVALID_CHUNK_SIZE', 400, 'invalid_transfer_encoding'],
    ['HPE_INVALID_METHOD', 400, 'invalid_method'],
    ['HPE_INVALID_CONSTANT', 400, 'malformed_request'],
    [undefined, 400, 'malformed_request'],
  ])('answers %s with %i %s in the collector shape', (code, statusCode, error) => {
    const reply = clientErrorReply(Object.assign(new Error('parse error'), { code }));
    expect(reply).toEqual({ statusCode, body: { error, message: expect.any(String) } });
    expect(reply.body.message.length).toBeGreaterThan(10);
  });
});

describe('toErrorReply', () => {
  it('gives a stable code, not a Fastify message echoing the URL, to a path segment over the router limit', () => {
    const error = Object.assign(new Error(`'/v1/container/${'k'.repeat(500)}' is exceeding the max param length`), { code: 'FST_ERR_MAX_PARAM_LENGTH', statusCode: 414 });
    const reply = toErrorReply(error, wording);
    expect(reply).toEqual({ statusCode: 414, body: { error: 'url_too_long', message: expect.any(String) } });
    expect(reply.body.message).not.toContain('kkk');
  });

  it('names the status, not a generic bad_request, for a 4xx it has no code for', () => {
    expect(toErrorReply(Object.assign(new Error('x'), { statusCode: 405 }), wording).body.error).toBe('method_not_allowed');
  });
});
