// CSV exports of a segment's hashed contacts in the layouts ad platforms take, and the SQL that decides from a
// person's stored consent whether they may be sent to one. Identifiers are SHA-256 hex of the normalised value
// (e-mail trimmed and lower-cased; phone in E.164). Pure.
import { QueryInputError } from './conditions';
import { str } from './literal';

export const exportFormats = ['google', 'yandex', 'vk', 'meta'] as const;
export type ExportFormat = (typeof exportFormats)[number];

/** One member's hashed contacts, as the export reads them from the identity graph. */
export interface ExportRow {
  person_id: string;
  emails: string[];
  phones: string[];
  phone_digits: string[];
}

/**
 * Whom an export to an ad platform may carry, from each member's latest marketing consent (see consentStatusSql):
 * - `unless_denied` (default): everyone but those whose latest marketing consent denies;
 * - `required`: only those whose latest marketing consent grants (an undecided member is left out too).
 */
export const consentRequirements = ['unless_denied', 'required'] as const;
export type ConsentRequirement = (typeof consentRequirements)[number];

/** What an export asks of consent: the requirement, and the consent tool's own marketing ids (OneTrust's `C0004`). */
export interface ConsentFilter {
  requirement: ConsentRequirement;
  marketingIds: readonly string[];
}

/**
 * Consent keys that speak for advertising: the Tagflow SDK's and Segment's `marketing` purpose, the
 * `advertising` category of Segment/OneTrust setups, and Google Consent Mode's `ad_user_data` (Customer Match
 * needs it) and `ad_personalization`. `ad_storage` (cookies on the device) is not about sending a person's data.
 */
export const marketingConsentKeys: readonly string[] = ['marketing', 'advertising', 'ad_user_data', 'ad_personalization'];

/**
 * The shape of a consent id matched inside the stored consent JSON: keysPattern escapes only `.` and `-`, so
 * every id (the request's and the sources' `marketingConsentIds`) must have it.
 */
export const consentIdShape = /^[A-Za-z0-9_.-]{1,64}$/;
const maxConsentIds = 20;

/** The `marketingConsentIds` parameter: comma-separated ids of letters, digits, `_`, `.` and `-`; none when absent. */
export function parseMarketingIds(value: unknown): string[] {
  if (value === undefined) return [];
  const ids = typeof value === 'string' ? value.split(',').map((id) => id.trim()) : [];
  if (ids.length === 0 || ids.length > maxConsentIds || !ids.every((id) => consentIdShape.test(id))) {
    throw new QueryInputError('marketingConsentIds', `must be 1 to ${maxConsentIds} comma-separated consent ids of letters, digits, _, . and - (at most 64 characters each)`);
  }
  return ids;
}

/** The consent keys of a filter as one RE2 alternation, lower-case (the stored consent is compared lower-cased). */
function keysPattern(marketingIds: readonly string[]): string {
  const keys = [...new Set([...marketingConsentKeys, ...marketingIds.map((id) => id.toLowerCase())])];
  // The ids are letters, digits, `_`, `.` and `-` (parseMarketingIds): only `.` and `-` need escaping.
  return keys.map((key) => key.replace(/[.-]/g, (c) => `\\${c}`)).join('|');
}

// The stored consent is compact JSON (JSON.stringify at ingest), so a key is `"name":` right after `{` or `,`,
// never inside a string value, where every quote is escaped. Values as isDenial (ingest/consent.ts) reads them:
// false, 0, or the text denied/false/0 in any case, spaces around; grants likewise true, 1, granted/true/1.
const deniedValue = '(false|0|"\\s*(denied|false|0)\\s*")';
const grantedValue = '(true|1|"\\s*(granted|true|1)\\s*")';
const valueEnd = '[,}]';
const keyAt = (marketingIds: readonly string[]) => `[{,]"(${keysPattern(marketingIds)})":`;

/** True (1) when the lower-cased consent JSON `column` holds a marketing key that grants or denies: a decision. */
export function marketingDecisionSql(column: string, marketingIds: readonly string[]): string {
  return `match(${column}, ${str(`${keyAt(marketingIds)}(${deniedValue}|${grantedValue})${valueEnd}`)})`;
}

/**
 * 'denied', 'granted' or 'undecided' for the lower-cased consent JSON `column`: a marketing key anywhere in it
 * that denies wins over any that grants (one refusal among grants is a refusal, as for analytics at ingest).
 */
export function consentStatusSql(column: string, marketingIds: readonly string[]): string {
  const denies = str(keyAt(marketingIds) + deniedValue + valueEnd);
  const grants = str(keyAt(marketingIds) + grantedValue + valueEnd);
  return `multiIf(match(${column}, ${denies}), 'denied', match(${column}, ${grants}), 'granted', 'undecided')`;
}

/** The statuses an export with `requirement` keeps. */
export function keptStatuses(requirement: ConsentRequirement): string[] {
  return requirement === 'required' ? ['granted'] : ['granted', 'undecided'];
}

/**
 * google: Google Ads Customer Match, header `Email,Phone`, phone hashed from E.164 with the `+`.
 * yandex: Yandex Audiences CRM file, header `email,phone`, phone hashed from digits only (79991234567),
 *         choose "hashed data, SHA-256" when uploading.
 * vk:     VK Ads list, one hashed identifier per line, phones as digits only like Yandex.
 * meta:   Meta (Facebook/Instagram) Custom Audience customer list, see metaLines.
 */
function csvHeader(format: ExportFormat): string {
  if (format === 'vk') return '';
  if (format === 'meta') return `${metaHeader.join(',')}\r\n`;
  return format === 'google' ? 'Email,Phone\r\n' : 'email,phone\r\n';
}

/**
 * Meta's customer list takes e-mails and phones "in up to three separate columns" each, one per cell, under the
 * headers `email` and `phone` (Meta Business Help Centre, "How to format a customer list", 2082575038703844; its
 * downloadable template starts `email,email,email,phone,phone,phone,…`). A row is one customer, matched on any of
 * its identifiers, so a person's contacts share a row; a fourth e-mail or phone continues on another row.
 * Hashes are what the Marketing API's EMAIL_SHA256 / PHONE_SHA256 schemas take: e-mail trimmed and lower-cased,
 * phone as digits with the country code, without `+` or leading zeros ("remove symbols, letters, and any leading
 * zeroes"; Meta's Python SDK keeps only [0-9]): our phone_digits, E.164 without its `+` (a country code never
 * starts with 0).
 */
const metaColumns = 3;
const metaHeader = [...Array<string>(metaColumns).fill('email'), ...Array<string>(metaColumns).fill('phone')];

function metaLines(row: ExportRow): string {
  let out = '';
  for (let i = 0; i < row.emails.length || i < row.phone_digits.length; i += metaColumns) {
    const cells: string[] = [];
    for (const ids of [row.emails, row.phone_digits]) for (let k = i; k < i + metaColumns; k++) cells.push(ids[k] ?? '');
    out += `${cells.join(',')}\r\n`;
  }
  return out;
}

/** The lines of one member (CRLF after each; none for a member without contacts). */
function csvLines(format: ExportFormat, row: ExportRow): string {
  if (format === 'meta') return metaLines(row);
  const phones = format === 'google' ? row.phones : row.phone_digits;
  if (format === 'vk') return [...row.emails, ...phones].map((id) => `${id}\r\n`).join('');
  let out = '';
  const count = Math.max(row.emails.length, phones.length);
  for (let i = 0; i < count; i++) out += `${row.emails[i] ?? ''},${phones[i] ?? ''}\r\n`;
  return out;
}

/**
 * The CSV as chunks of text, one per member, read as the rows arrive: an export of millions of members is never
 * one string. The header goes out with the first member's lines (or alone at the end), not before the rows are
 * read: until the first chunk the answer's status can still change, so a rows query that fails before its first
 * row (the query API's time limit) is answered with its error status, whatever the format. A vk file without any
 * line is one empty line, as it always was.
 */
export async function* segmentCsvChunks(format: ExportFormat, rows: Iterable<ExportRow> | AsyncIterable<ExportRow>): AsyncGenerator<string> {
  let header = csvHeader(format);
  let written = false;
  for await (const row of rows) {
    const lines = csvLines(format, row);
    if (!lines) continue;
    written = true;
    yield header + lines;
    header = '';
  }
  if (header) yield header;
  else if (!written) yield '\r\n';
}

/** The whole CSV of `rows` as one string (small exports, tests). */
export async function segmentCsv(format: ExportFormat, rows: Iterable<ExportRow> | AsyncIterable<ExportRow>): Promise<string> {
  let text = '';
  for await (const chunk of segmentCsvChunks(format, rows)) text += chunk;
  return text;
}
