-- Raw events, one row per accepted event. Every statement here must run on ClickHouse 18.16 and 23.x+.
-- ReplacingMergeTree collapses retried deliveries of one message_id in the background; analyst views
-- still deduplicate at read time, because merges are eventual.
-- The sorting key uses original_timestamp (the client's clock), which is identical across retries of one
-- message, unlike the skew-corrected timestamp that depends on each retry's sentAt.
CREATE TABLE IF NOT EXISTS events
(
    message_id          String,
    source              String,
    type                String,
    event               String,
    name                String,
    anonymous_id        String,
    user_id             String,
    group_id            String,
    previous_id         String,
    session_id          String,
    timestamp           DateTime('UTC'),
    timestamp_ms        UInt64,
    original_timestamp  DateTime('UTC'),
    sent_at             DateTime('UTC'),
    received_at         DateTime('UTC'),
    properties          String,
    traits              String,
    context             String,
    page_url            String,
    page_path           String,
    page_referrer       String,
    page_title          String,
    campaign_source     String,
    campaign_medium     String,
    campaign_name       String,
    consent             String,
    ip                  String,
    user_agent          String,
    library_name        String,
    library_version     String,
    locale              String,
    timezone            String
)
ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(original_timestamp)
ORDER BY (source, toDate(original_timestamp), message_id);

-- Events the collector refused, kept with the reason so nothing is dropped silently.
CREATE TABLE IF NOT EXISTS events_quarantine
(
    received_at  DateTime('UTC'),
    source       String,
    reason       String,
    raw          String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (source, received_at);
