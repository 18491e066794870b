// The collector's Prometheus metrics, in a registry per collector (tests run several in one process).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface CollectorMetrics {
  registry: Registry;
  received: Counter<'source'>;
  accepted: Counter<'source'>;
  rejected: Counter<'source' | 'reason'>;
  /** Whole requests refused before their events were read (unknown write key, rate limit, full spool…). */
  refusedRequests: Counter<'reason'>;
  consent: Counter<'source' | 'action'>;
  /** consent_refusals rows spooled: "reject all"s whose events lost their ids (ingest/consent-refusal.ts). */
  consentRefusals: Counter<'source'>;
  /** Events stored without a placeholder id ("undefined", the zero UUID, the config's blockedIds; ingest/placeholder-ids.ts). */
  blockedIds: Counter<'source'>;
  spooled: Counter<never>;
  inserted: Counter<never>;
  insertFailures: Counter<never>;
  refusedRows: Counter<'table'>;
  refusedToFile: Counter<'table'>;
  insertSeconds: Histogram<never>;
  batchRows: Histogram<never>;
  spoolBytes: Gauge<never>;
  spoolCommitSeconds: Histogram<never>;
  corruptRecords: Counter<never>;
  /** Query-API requests holding a ClickHouse slot, and waiting for one (routes/query-limiter.ts). */
  queriesRunning: Gauge<never>;
  queriesWaiting: Gauge<never>;
}

/** Creates the metrics; `spoolBytes` reads the spool depth at scrape time. */
export function createMetrics(spoolDepth: () => number): CollectorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tagflow_' });
  const registers = [registry];
  return {
    registry,
    received: new Counter({ name: 'tagflow_events_received_total', help: 'Events received, valid or not', labelNames: ['source'], registers }),
    accepted: new Counter({ name: 'tagflow_events_accepted_total', help: 'Events accepted and spooled', labelNames: ['source'], registers }),
    rejected: new Counter({ name: 'tagflow_events_rejected_total', help: 'Events refused and quarantined, by reason', labelNames: ['source', 'reason'], registers }),
    refusedRequests: new Counter({ name: 'tagflow_requests_refused_total', help: 'Requests refused as a whole, by reason', labelNames: ['reason'], registers }),
    consent: new Counter({ name: 'tagflow_events_consent_total', help: 'Events whose consent denied analytics, by what the policy did', labelNames: ['source', 'action'], registers }),
    consentRefusals: new Counter({ name: 'tagflow_consent_refusals_total', help: 'Marketing refusals recorded in consent_refusals for events whose ids the consent policy removed (one per id and request)', labelNames: ['source'], registers }),
    blockedIds: new Counter({ name: 'tagflow_events_blocked_ids_total', help: 'Events stored without an id that was a placeholder (undefined, null, 0, the zero UUID, the configured blockedIds)', labelNames: ['source'], registers }),
    spooled: new Counter({ name: 'tagflow_spool_records_total', help: 'Records appended to the spool (one per request)', registers }),
    inserted: new Counter({ name: 'tagflow_events_inserted_total', help: 'Events inserted into ClickHouse', registers }),
    insertFailures: new Counter({ name: 'tagflow_insert_failures_total', help: 'Failed ClickHouse inserts (retried)', registers }),
    refusedRows: new Counter({ name: 'tagflow_insert_refused_rows_total', help: 'Spooled rows ClickHouse refused; events ones are quarantined with its reason', labelNames: ['table'], registers }),
    refusedToFile: new Counter({ name: 'tagflow_insert_refused_to_file_total', help: 'Refused rows ClickHouse would not take as quarantine rows either, kept in refused.jsonl in the spool directory', labelNames: ['table'], registers }),
    insertSeconds: new Histogram({ name: 'tagflow_insert_duration_seconds', help: 'Duration of a ClickHouse insert', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers }),
    batchRows: new Histogram({ name: 'tagflow_insert_batch_rows', help: 'Rows per ClickHouse insert', buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10_000, 25_000], registers }),
    spoolBytes: new Gauge({ name: 'tagflow_spool_depth_bytes', help: 'Spooled bytes not yet confirmed by ClickHouse', registers, collect() { this.set(spoolDepth()); } }),
    spoolCommitSeconds: new Histogram({ name: 'tagflow_spool_commit_duration_seconds', help: 'Duration of one group commit (O_DSYNC write: write + data sync) of the spool', buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25], registers }),
    corruptRecords: new Counter({ name: 'tagflow_spool_corrupt_total', help: 'Torn or corrupt spool stretches set aside', registers }),
    queriesRunning: new Gauge({ name: 'tagflow_queries_running', help: 'Query API requests (funnel, materialize, members, export) holding one of the limits.queryConcurrency slots', registers }),
    queriesWaiting: new Gauge({ name: 'tagflow_queries_waiting', help: 'Query API requests waiting for a slot (at most limits.queryQueue)', registers }),
  };
}
