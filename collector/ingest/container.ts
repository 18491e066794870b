// Checks a tag container from the config (pure): the collector refuses a malformed one at start with
// a message naming the field, and serves a valid one with a content hash as its ETag.
import { createHash } from 'node:crypto';
import type { Container } from '../../sdk/plugins/tags/container';
import { readContainer } from '../../sdk/plugins/tags/validate';

export type { Container } from '../../sdk/plugins/tags/container';

export type ContainerCheck = { ok: true; container: Container } | { ok: false; problems: string[] };

/** A container is accepted only when every part of it is valid (the browser would silently drop the rest). */
export function checkContainer(raw: unknown): ContainerCheck {
  const { container, problems } = readContainer(raw);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, container };
}

/** The container as served, and its strong ETag (a hash of exactly those bytes). */
export function containerBody(container: Container): { body: string; etag: string } {
  const body = JSON.stringify(container);
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/** True when an If-None-Match header names this ETag (or `*`), so the answer can be 304. */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}
