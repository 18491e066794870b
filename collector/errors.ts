// Every error the collector answers with has a stable machine code and a sentence for people:
// { "error": "invalid_json", "message": "..." }.
import { STATUS_CODES, maxHeaderSize } from 'node:http';

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Fastify's own error codes for body problems, renamed to ours. */
const fastifyCodes: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'empty_body',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_content_length',
  FST_ERR_BAD_URL: 'invalid_url',
};

export interface ErrorBody {
  error: string;
  message: string;
  [detail: string]: unknown;
}

export interface ErrorReply {
  statusCode: number;
  body: ErrorBody;
}

/** What some messages name: the server's body limit and body types, and the request's Content-Type. */
export interface ErrorWording {
  requestBytes: number;
  /** The media types bodies are read in. */
  mediaTypes: readonly string[];
  contentType?: string | undefined;
  /** The longest path segment the router takes (Fastify's maxParamLength). */
  maxParamLength?: number;
}

/** Fastify's default for the longest path segment its router takes. */
export const defaultMaxParamLength = 100;

/** A status's reason phrase as a code (405: `method_not_allowed`), for a 4xx that has no code of ours. */
function statusCode(status: number): string {
  return (STATUS_CODES[status] ?? 'bad request').toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '');
}

/** Maps any thrown error to a status and a JSON body; unknown errors become a plain 500. */
export function toErrorReply(error: unknown, { requestBytes, mediaTypes, contentType, maxParamLength = defaultMaxParamLength }: ErrorWording): ErrorReply {
  if (error instanceof HttpError) {
    return { statusCode: error.statusCode, body: { error: error.code, message: error.message, ...error.details } };
  }
  const e = error as { statusCode?: number; code?: string; message?: string };
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return { statusCode: 413, body: { error: 'body_too_large', message: `the body is larger than ${requestBytes} bytes (${Math.round(requestBytes / 1024)} KB, after gzip is inflated); send fewer events per request` } };
  }
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    const mediaType = contentType?.split(';')[0]?.trim().slice(0, 100);
    const given = mediaType ? `Content-Type ${mediaType} is` : 'a body without Content-Type is';
    return { statusCode: 415, body: { error: 'unsupported_media_type', message: `${given} not read here: send the body as ${mediaTypes.join(' or ')} (JSON either way)` } };
  }
  // Fastify's own message repeats the whole path, which may be kilobytes long.
  if (e.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return { statusCode: 414, body: { error: 'url_too_long', message: `a segment of the URL path is longer than ${maxParamLength} characters, which no route here takes` } };
  }
  // zlib's codes: a body declared gzip that is not.
  if (e.code?.startsWith('Z_')) return { statusCode: 400, body: { error: 'invalid_gzip', message: `the body is not valid gzip: ${e.message ?? e.code}` } };
  const status = typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 600 ? e.statusCode : 500;
  if (status >= 500) return { statusCode: status, body: { error: 'internal', message: 'the collector failed to handle this request' } };
  const code = (e.code && fastifyCodes[e.code]) ?? statusCode(status);
  return { statusCode: status, body: { error: code, message: e.message ?? 'the request was refused' } };
}

/**
 * Node's HTTP parser's refusals (the `clientError` event: the request never reaches Fastify), by the parser's
 * error code. Without this, Node and Fastify answer them in Fastify's shape.
 */
const parserRefusals: Record<string, ErrorReply> = {
  ERR_HTTP_REQUEST_TIMEOUT: { statusCode: 408, body: { error: 'request_timeout', message: 'the request did not arrive in time; send its headers and body without pausing' } },
  HPE_HEADER_OVERFLOW: { statusCode: 431, body: { error: 'headers_too_large', message: `the request line and headers are larger than the ${Math.round(maxHeaderSize / 1024)} KB the server takes` } },
  HPE_INVALID_CONTENT_LENGTH: { statusCode: 400, body: { error: 'invalid_content_length', message: 'the Content-Length header is not a single whole number of bytes' } },
  HPE_UNEXPECTED_CONTENT_LENGTH: {
    statusCode: 400,
    body: { error: 'invalid_content_length', message: 'the request has more than one Content-Length, or both Content-Length and Transfer-Encoding: send one' },
  },
  HPE_INVALID_TRANSFER_ENCODING: {
    statusCode: 400,
    body: { error: 'invalid_transfer_encoding', message: 'the Transfer-Encoding cannot be read: it must end in chunked, and come without a Content-Length' },
  },
  HPE_INVALID_CHUNK_SIZE: { statusCode: 400, body: { error: 'invalid_transfer_encoding', message: 'the chunked body is malformed: a chunk size is not hexadecimal' } },
  HPE_INVALID_METHOD: { statusCode: 400, body: { error: 'invalid_method', message: 'the request method is not one HTTP defines' } },
};

export function clientErrorReply(error: Error & { code?: string }): ErrorReply {
  const known = error.code === undefined ? undefined : parserRefusals[error.code];
  if (known) return { statusCode: known.statusCode, body: { ...known.body } };
  // llhttp's messages are fixed sentences ("Parse Error: Invalid header token"), never the request's bytes.
  const reason = error.message.replace(/^Parse Error: */i, '').slice(0, 100) || error.code || 'unreadable';
  return { statusCode: 400, body: { error: 'malformed_request', message: `the request is not valid HTTP/1.1: ${reason}` } };
}
