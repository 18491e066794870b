// The one reader of times that clients and analysts send: event timestamps, a batch's sentAt, the funnel
// API's from/to. Date.parse is not used: it takes almost anything ("1" is 2001-01-01, "November 23, 2026"
// is a date) and reads a zone-less "2026-11-23 10:00:00" in the collector machine's zone.

// ISO-8601 in the forms RFC 3339 names: a date, or a date and a time joined by T or one space (RFC 3339
// §5.6 allows the space, and it is how ClickHouse writes a DateTime), minutes or seconds with any fraction,
// and Z or an offset (+05:30, +0530, +05). T and Z in either case. Years of ±6 digits are the expanded
// form toISOString writes past 9999, kept so that range checks, not this one, refuse them.
const isoTime =
  /^(\d{4}|[+-]\d{6})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?(?:(Z)|([+-])(\d\d)(?::?(\d\d))?)?)?$/i;

/**
 * Milliseconds of an ISO-8601 date or date-time (NaN when the text is none, or names a day or time that
 * does not exist, such as 2026-02-30 or 24:00). Without a zone it is UTC, whatever the machine's zone;
 * a date alone is its midnight UTC. Digits of a fraction past milliseconds are dropped.
 */
export function parseClientTime(text: string): number {
  const match = isoTime.exec(text);
  if (!match) return NaN;
  const [, yearText = '', monthText = '', dayText = '', hourText = '0', minuteText = '0', secondText = '0', fraction = '', , sign, offsetHours = '0', offsetMinutes = '0'] = match;
  // "-000000" is the one expanded year ISO-8601 forbids (year zero has a single sign, +).
  if (yearText === '-000000') return NaN;
  const [year, month, day, hour, minute, second] = [yearText, monthText, dayText, hourText, minuteText, secondText].map(Number) as [number, number, number, number, number, number];
  if (hour > 23 || minute > 59 || second > 59 || Number(offsetHours) > 23 || Number(offsetMinutes) > 59) return NaN;
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC, which reads the years 0–99 as 1900–1999.
  date.setUTCFullYear(year, month - 1, day);
  // A day past the month's end rolls over into the next month.
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return NaN;
  date.setUTCHours(hour, minute, second, Number(fraction.slice(0, 3).padEnd(3, '0')));
  const offsetMs = (Number(offsetHours) * 60 + Number(offsetMinutes)) * 60_000;
  // An instant outside what a Date holds (±8.64e15 ms) is NaN, as Date.parse has it.
  return new Date(date.getTime() - (sign === '-' ? -offsetMs : offsetMs)).getTime();
}
