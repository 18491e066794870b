// Every error the collector answers with has a stable machine code and a sentence for people:
// { "error": "invalid_json", "message": "..." }.

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

/** What some messages name: the server's body limit and body types, and the request's Content-Type. */
export interface ErrorWording {
  requestBytes: number;
  /** The media types bodies are read in. */
  mediaTypes: readonly string[];
  contentType?: string | undefined;
}

/** Maps any thrown error to a status and a JSON body; unknown errors become a plain 500. */
export function toErrorReply(error: unknown, { requestBytes, mediaTypes, contentType }: ErrorWording): { statusCode: number; body: ErrorBody } {
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
  // zlib's codes: a body declared gzip that is not.
  if (e.code?.startsWith('Z_')) return { statusCode: 400, body: { error: 'invalid_gzip', message: `the body is not valid gzip: ${e.message ?? e.code}` } };
  const statusCode = typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 600 ? e.statusCode : 500;
  if (statusCode >= 500) return { statusCode, body: { error: 'internal', message: 'the collector failed to handle this request' } };
  const code = (e.code && fastifyCodes[e.code]) ?? 'bad_request';
  return { statusCode, body: { error: code, message: e.message ?? 'bad request' } };
}
