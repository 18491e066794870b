// Runs once before all test files: makes sure a ClickHouse is reachable and tells the workers its URL.
import type { TestProject } from 'vitest/node';
import { ensureClickHouse } from '../../scripts/clickhouse/server';

declare module 'vitest' {
  export interface ProvidedContext {
    clickhouseUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<void> {
  const clickhouse = await ensureClickHouse();
  project.provide('clickhouseUrl', clickhouse.url);
}
