-- Enrichment the collector adds to each event: the user agent parsed into browser, OS and device, and a
-- bot flag for known crawlers. Defaults make rows written before this migration read as ''/0.
-- One ALTER with every column (18.16 has no ADD COLUMN IF NOT EXISTS), so it applies all or nothing.
ALTER TABLE events
    ADD COLUMN browser String DEFAULT '',
    ADD COLUMN browser_version String DEFAULT '',
    ADD COLUMN os String DEFAULT '',
    ADD COLUMN os_version String DEFAULT '',
    ADD COLUMN device_type String DEFAULT '',
    ADD COLUMN device_vendor String DEFAULT '',
    ADD COLUMN device_model String DEFAULT '',
    ADD COLUMN is_bot UInt8 DEFAULT 0;
