// The ONLY place that turns values into SQL literals (ClickHouse 18.16 has no query parameters).
// Both 18.16 and modern ClickHouse accept backslash escapes inside single-quoted strings.

/** A thrown value that must not reach SQL; callers validate first, so this signals a bug. */
export class LiteralError extends Error {
  readonly code = 'BAD_LITERAL';
}

/** A string literal: backslashes and quotes escaped, everything else passed through verbatim. */
export const str = (value: string): string => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** A finite number literal. */
export function num(value: number): string {
  if (!Number.isFinite(value)) throw new LiteralError(`not a finite number: ${value}`);
  return String(value);
}

/** A safe-integer literal. */
export function int(value: number): string {
  if (!Number.isSafeInteger(value)) throw new LiteralError(`not a safe integer: ${value}`);
  return String(value);
}

/** A UTC DateTime literal from epoch milliseconds (seconds precision, like the columns). */
export function dt(ms: number): string {
  if (!Number.isFinite(ms)) throw new LiteralError(`not a time: ${ms}`);
  return `toDateTime('${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}', 'UTC')`;
}

/** `(a, b, c)` for IN; the list must not be empty. */
export function strList(values: readonly string[]): string {
  if (values.length === 0) throw new LiteralError('empty list');
  return `(${values.map(str).join(', ')})`;
}
