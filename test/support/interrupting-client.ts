// A ClickHouse client that dies before its n-th write statement: how the identity job's tests interrupt a run
// between any two of its statements.
import type { ClickHouseClient } from '../../collector/warehouse/client';

/** What a write statement does: `insert <table>`, or the first words of a command (`ALTER TABLE x REPLACE`). */
function statementKind(method: string, params: unknown): string {
  if (typeof params !== 'object' || params === null) return method;
  if ('table' in params && typeof params.table === 'string') return `insert ${params.table}`;
  if ('query' in params && typeof params.query === 'string') return params.query.trim().split(/\s+/).slice(0, 4).join(' ');
  return method;
}

/**
 * The test seam: `client`, except that its write statements (insert, command) are recorded in `log` and the
 * `failAt`-th one (from 1) throws instead of reaching ClickHouse, as if the process died right before it.
 */
export function interruptingClient(client: ClickHouseClient, failAt: number, log: string[]): ClickHouseClient {
  return new Proxy(client, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if ((prop !== 'insert' && prop !== 'command') || typeof value !== 'function') return value;
      return (...args: unknown[]): unknown => {
        log.push(statementKind(prop, args[0]));
        if (log.length === failAt) return Promise.reject(new Error(`interrupted before ${log.at(-1)}`));
        return Reflect.apply(value, target, args);
      };
    },
  });
}
