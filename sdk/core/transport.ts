// The wire for normal sends: fetch, whose answer says what was stored (the page-hide beacon is in
// the dispatcher). A text/plain body keeps it a "simple" request: no CORS preflight.

export interface SendResult {
  /** HTTP status, 0 for a network error. */
  status: number;
  retryAfter?: string | null;
  /**
   * The events of the batch the collector refused, as its JSON answer lists them: with the reasons, which
   * the debug log shows.
   */
  rejected: Rejection[];
}

/** One refused event in the collector's answer: its index in the batch and why (untrusted JSON: maybe null). */
export type Rejection = { index: number; reason?: string } | null;

export async function postBatch(url: string, body: string, keepalive: boolean): Promise<SendResult> {
  try {
    // A string body goes as text/plain;charset=UTF-8. A request left unanswered is abandoned after 30 s
    // and retried: it holds the lock every tab of the site sends under. (Not AbortSignal.timeout: Chrome
    // 103 and Safari 16 came with it, the builds support older ones.)
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 3e4);
    const response = await fetch(url, { method: 'POST', body, keepalive, signal: abort.signal });
    const answer = (await response.json().catch(() => undefined)) as { rejected?: Rejection[] } | null | undefined;
    const rejected = Array.from(answer?.rejected || []);
    return { status: response.status, retryAfter: response.headers.get('Retry-After'), rejected };
  } catch {
    return { status: 0, rejected: [] };
  }
}

/**
 * What to do with a batch after the answer: `retry` (network error, 408, 429, 5xx), `split` (413 on
 * more than one event), or the events that leave the queue: all of the batch on 2xx; on another 4xx
 * (a single event too large included) only the events the collector names (all when it names none).
 * What stays goes out in the next batch, so nothing loops.
 */
export function outcomeOf<T>({ status, rejected }: SendResult, batch: T[]): 'retry' | 'split' | T[] {
  if (status == 413 && batch.length > 1) return 'split';
  if (!status || status == 408 || status == 429 || status > 499) return 'retry';
  const named = batch.filter((_, i) => rejected.some((r) => r?.index == i));
  return status < 300 || !named.length ? batch : named;
}
