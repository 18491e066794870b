-- consent_refusals: the refusals of marketing whose events lost their ids, so that the exports to ad platforms
-- honour them (docs/collector.md, "Server-side consent"; docs/analytics.md, "Query API"). An event whose consent
-- denies analytics is stored without its ids (consent policy `strip`) or not at all (`drop`); when its consent
-- also denies marketing ("reject all"), that refusal would otherwise reach nobody, and a person who granted
-- marketing earlier (or never decided) would still be sent to ad platforms. It is also a consent record: GDPR
-- Art. 7(1) asks the controller to be able to show what a person decided.
--
-- What a row holds, and nothing more (collector/ingest/consent-refusal.ts writes it, through the spool):
--   * id_hash: lower-case SHA-256 hex of the event's userId (id_kind 'user'), or of its anonymousId ('anon') when
--     it has no userId, as the identity graph names them (`user:<id>`, `anon:<id>`): the export hashes the
--     members' nodes the same way. Never the id itself. Pseudonymous, not anonymous: a guessable id (a customer
--     number, an e-mail used as userId) is found again by hashing candidates, so treat the table as personal data.
--   * refused_on: the day (UTC) the collector received the refusal. No time of day, message id, source or
--     position: every refusal of one id on one day is the same row, so the table cannot tell the page views of a
--     refusing visitor apart (a client may send each of them with the denial) nor be joined back to a single
--     stripped event (the day still links them on a day with few refusals: docs/collector.md says so).
--     ReplacingMergeTree keeps the latest day per id; readers take max(refused_on) until it has merged.
-- An export leaves a member out when a refusal of one of their ids is on or after the day of their latest
-- marketing decision in person_events (ties go to the refusal: without a time of day a grant sent later that
-- day cannot be told from one sent before).
CREATE TABLE IF NOT EXISTS consent_refusals
(
    id_hash     String,
    id_kind     String,
    refused_on  Date
)
ENGINE = ReplacingMergeTree(refused_on)
ORDER BY (id_hash, id_kind);
