-- events.context_identity: the e-mail and phone of context.traits, as compact JSON ({"email":…,"phone":…}, only those
-- present), for events that are no identify or alias and have a userId; '' for every other row (collector/ingest/
-- normalize.ts, contextIdentity). Segment's mobile libraries and RudderStack's SDKs repeat the user's traits in
-- context.traits on every event, so a user whose identify the collector never saw is still linked to their e-mail
-- and phone (identity job, docs/analytics.md "Identity resolution"). A narrow column rather than parsing `context`:
-- the job re-reads a day of events every run, and context traits repeat on every event.
-- Rows stored before this migration read as '': they are not read (no backfill).
-- Added last: the shipper names its columns (collector/warehouse/row-text.ts); rows spooled by an older version,
-- without the column, are inserted with the columns they have and get the DEFAULT.
ALTER TABLE events ADD COLUMN context_identity String DEFAULT '';
