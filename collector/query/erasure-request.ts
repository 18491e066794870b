// The body of POST /v1/erasures: exactly one identifier of the person to erase, and its identity-graph node,
// named, normalised and hashed as the identity graph names it (warehouse/identity/identifiers.ts). Pure.
import { normalizeEmail, normalizePhone, sha256 } from '../warehouse/identity/identifiers';
import { isRecord, QueryInputError } from './conditions';

export const erasureKinds = ['userId', 'anonymousId', 'email', 'phone'] as const;
/** The longest identifier an erasure takes, in characters. */
export const maxErasureValueLength = 1000;
export type ErasureKind = (typeof erasureKinds)[number];

export interface ErasureRequest {
  kind: ErasureKind;
  /** As sent, trimmed of nothing: events and quarantined payloads carry it so. */
  value: string;
}

/** The graph node of `request`: `user:`, `anon:`, or the SHA-256 of the normalised e-mail or E.164 phone. */
export function erasureNode({ kind, value }: ErasureRequest): string {
  if (kind === 'userId') return `user:${value}`;
  if (kind === 'anonymousId') return `anon:${value}`;
  const normalised = kind === 'email' ? normalizeEmail(value) : normalizePhone(value);
  // parseErasureRequest refuses what does not normalise; reaching this is a bug.
  if (normalised === undefined) throw new Error(`not a valid ${kind}`);
  return `${kind}:${sha256(normalised)}`;
}

/** The request in `body`, or a QueryInputError naming what is wrong. */
export function parseErasureRequest(body: unknown): ErasureRequest {
  if (!isRecord(body)) throw new QueryInputError('body', `must be a JSON object naming one of ${erasureKinds.join(', ')}`);
  const named = Object.keys(body);
  const unknown = named.find((key) => !(erasureKinds as readonly string[]).includes(key));
  if (unknown !== undefined) throw new QueryInputError(unknown, `unknown field (allowed: ${erasureKinds.join(', ')}, exactly one)`);
  const [kind, ...more] = named as ErasureKind[];
  if (kind === undefined) throw new QueryInputError('body', `must name one of ${erasureKinds.join(', ')}`);
  if (more.length > 0) throw new QueryInputError('body', `must name exactly one identifier, not ${named.join(' and ')}: an erasure erases one person`);
  const value = body[kind];
  if (typeof value !== 'string' || value.trim() === '') throw new QueryInputError(kind, 'must be a non-empty string');
  if (value.length > maxErasureValueLength) throw new QueryInputError(kind, `must be at most ${maxErasureValueLength.toLocaleString('en-US')} characters`);
  if (kind === 'email' && normalizeEmail(value) === undefined) throw new QueryInputError(kind, 'is not an e-mail address');
  if (kind === 'phone' && normalizePhone(value) === undefined) throw new QueryInputError(kind, 'is not a phone number with a country code');
  return { kind, value };
}
