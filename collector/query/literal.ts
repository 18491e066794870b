// The ONLY place that turns values into SQL literals (ClickHouse 18.16 has no query parameters).
// Both 18.16 and modern ClickHouse accept backslash escapes inside single-quoted strings.

/** A thrown value that must not reach SQL; callers validate first, so this signals a bug. */
export class LiteralError extends Error {
  readonly code = 'BAD_LITERAL';
}

/** A string literal: backslashes and quotes escaped, everything else passed through verbatim. */
export const str = (value: string): string => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** The smallest positive normal double: 18.16 cannot parse a literal between it and 0 (`1e-310` is a syntax error). */
const minNormal = 2.2250738585072014e-308;

/** Why `value` cannot be a number literal on every supported ClickHouse, or undefined when it can. */
export function numberProblem(value: number): string | undefined {
  if (!Number.isFinite(value)) return 'must be a finite number';
  if (value !== 0 && Math.abs(value) < minNormal) return `must be 0 or at least ${minNormal} in size (ClickHouse 18.16 cannot read subnormal numbers)`;
  return undefined;
}

/** A number literal both ClickHouse versions read (see numberProblem). */
export function num(value: number): string {
  const problem = numberProblem(value);
  if (problem) throw new LiteralError(`${value}: ${problem}`);
  return String(value);
}

/** A safe-integer literal. */
export function int(value: number): string {
  if (!Number.isSafeInteger(value)) throw new LiteralError(`not a safe integer: ${value}`);
  return String(value);
}

/** The times a DateTime holds on both versions (epoch ms): 18.16's date table ends with 2105. */
const firstTime = 0;
const endOfTime = Date.UTC(2106, 0, 1);

/** Why epoch milliseconds `ms` cannot be a DateTime literal, or undefined when they can. */
export function timeProblem(ms: number): string | undefined {
  if (!Number.isFinite(ms) || ms < firstTime || ms >= endOfTime) return 'must be a time from 1970-01-01T00:00:00Z to 2105-12-31T23:59:59Z';
  return undefined;
}

/** A UTC DateTime literal from epoch milliseconds (seconds precision, like the columns). */
export function dt(ms: number): string {
  const problem = timeProblem(ms);
  if (problem) throw new LiteralError(`${ms}: ${problem}`);
  return `toDateTime('${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}', 'UTC')`;
}

/** `(a, b, c)` for IN; the list must not be empty. */
export function strList(values: readonly string[]): string {
  if (values.length === 0) throw new LiteralError('empty list');
  return `(${values.map(str).join(', ')})`;
}
