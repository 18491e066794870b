// CSV exports of a segment's hashed contacts in the layouts ad platforms take. Identifiers are SHA-256
// hex of the normalised value (e-mail trimmed and lower-cased; phone in E.164). Pure.
import type { ExportRow } from '../warehouse/segments';

export const exportFormats = ['google', 'yandex', 'vk'] as const;
export type ExportFormat = (typeof exportFormats)[number];

const lines = (rows: string[][]): string => `${rows.map((r) => r.join(',')).join('\r\n')}\r\n`;

/**
 * google: Google Ads Customer Match, header `Email,Phone`, phone hashed from E.164 with the `+`.
 * yandex: Yandex Audiences CRM file, header `email,phone`, phone hashed from digits only (79991234567),
 *         choose "hashed data, SHA-256" when uploading.
 * vk:     VK Ads list, one hashed identifier per line, phones as digits only like Yandex.
 */
export function segmentCsv(format: ExportFormat, rows: readonly ExportRow[]): string {
  const out: string[][] = [];
  for (const row of rows) {
    const phones = format === 'google' ? row.phones : row.phone_digits;
    if (format === 'vk') {
      for (const id of [...row.emails, ...phones]) out.push([id]);
      continue;
    }
    const count = Math.max(row.emails.length, phones.length);
    for (let i = 0; i < count; i++) out.push([row.emails[i] ?? '', phones[i] ?? '']);
  }
  if (format === 'vk') return lines(out);
  return lines([format === 'google' ? ['Email', 'Phone'] : ['email', 'phone'], ...out]);
}
