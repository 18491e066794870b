// createTagflow: the instance that turns calls into events and sends them in batches.
import { buildEvent, type EventFields } from './envelope';
import { loadIdentity, saveUserId } from './identity';
import { resolveOptions } from './options';
import { sendBatch } from './transport';
import type { EventType, Tagflow, TagflowEvent, TagflowOptions } from './types';

/**
 * Creates a Tagflow instance.
 * @throws TagflowOptionsError when the write key is missing or the endpoint is not an http(s) URL.
 */
export function createTagflow(options: TagflowOptions): Tagflow {
  const settings = resolveOptions(options);
  const identity = loadIdentity();
  const waiting: TagflowEvent[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const log = (...args: unknown[]) => {
    if (settings.debug) console.log('[tagflow]', ...args);
  };

  const flush = async (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const batch = waiting.splice(0, waiting.length);
    if (batch.length === 0) return;
    const result = await sendBatch(settings.endpoint, settings.writeKey, batch);
    log(result.ok ? 'sent' : 'send failed', batch.length, 'events', result.status);
    if (!result.ok) waiting.unshift(...batch);
  };

  const enqueue = (type: EventType, fields: EventFields): void => {
    try {
      const event = buildEvent(type, fields, identity);
      waiting.push(event);
      log('queued', type, event.event ?? event.name ?? '');
      if (waiting.length >= settings.batchSize) void flush();
      else timer ??= setTimeout(() => void flush(), settings.flushInterval);
    } catch (error) {
      log('could not record', type, error); // never throw into the host page
    }
  };

  return {
    track: (event, properties) => enqueue('track', { event, properties }),
    page: (name, properties) => enqueue('page', { name, properties }),
    identify: (userId, traits) => {
      if (userId) {
        identity.userId = userId;
        saveUserId(userId);
      }
      enqueue('identify', { traits });
    },
    flush,
  };
}
