import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isEntryPoint } from './entry-point';

describe('isEntryPoint', () => {
  it('recognises the started file also in a folder whose name has a space or a non-ASCII letter', () => {
    for (const path of ['/tmp/tagflow/collector/main.ts', '/home/José/My Projects/tagflow/scripts/start.ts']) {
      expect(isEntryPoint(pathToFileURL(path).href, path)).toBe(true);
    }
  });

  it('is false for another file, a relative argument naming another file, or no argument', () => {
    const url = pathToFileURL('/tmp/tagflow/collector/main.ts').href;
    expect(isEntryPoint(url, '/tmp/tagflow/scripts/start.ts')).toBe(false);
    expect(isEntryPoint(url, 'main.ts')).toBe(false);
    expect(isEntryPoint(url, undefined)).toBe(false);
  });
});
