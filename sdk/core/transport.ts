// Sends one batch to the collector. text/plain keeps it a "simple" request: no CORS preflight.
import type { TagflowEvent } from './types';

export interface BatchResult {
  ok: boolean;
  status: number;
}

export async function sendBatch(endpoint: string, writeKey: string, batch: TagflowEvent[]): Promise<BatchResult> {
  const body = JSON.stringify({ batch, writeKey, sentAt: new Date().toISOString() });
  try {
    const response = await fetch(`${endpoint}/v1/batch`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain' },
      body,
      keepalive: body.length < 60_000,
      credentials: 'omit',
    });
    return { ok: response.ok, status: response.status };
  } catch {
    return { ok: false, status: 0 };
  }
}
