// Reading ClickHouse's error code from what the client throws, for the server we have (18.16) and modern ones.
import { parseError } from '@clickhouse/client';
import { describe, expect, it } from 'vitest';
import { clickhouseErrorCode } from './client';

describe('clickhouseErrorCode', () => {
  it("reads an 18.16 error's code from its message, also from an error row read mid-stream", () => {
    expect(clickhouseErrorCode(new Error('Code: 159, e.displayText() = DB::Exception: Timeout exceeded: elapsed 1.000000046 seconds, maximum: 1, e.what() = DB::Exception'))).toBe('159');
    expect(clickhouseErrorCode(new Error('ClickHouse failed during the export: Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded'))).toBe('241');
  });

  it("reads a modern server's ClickHouseError, whose message the client cut before the code", () => {
    // The client's own parsing of a modern server's answer.
    const error = parseError('Code: 159. DB::Exception: Timeout exceeded: elapsed 1.00 seconds, maximum: 1. (TIMEOUT_EXCEEDED) (version 24.8.4.13 (official build))');
    expect(error).toMatchObject({ code: '159', type: 'TIMEOUT_EXCEEDED' });
    expect(error.message).not.toContain('Code:');
    expect(clickhouseErrorCode(error)).toBe('159');
  });

  it('finds none in other errors, including a Node error code', () => {
    expect(clickhouseErrorCode(new Error('socket hang up'))).toBeUndefined();
    expect(clickhouseErrorCode(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))).toBeUndefined();
    expect(clickhouseErrorCode(undefined)).toBeUndefined();
  });
});
