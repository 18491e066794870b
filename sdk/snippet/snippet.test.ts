// The stub is tested from its minified build, exactly as a site owner pastes it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { SnippetQueue } from './queue';

const stubSource = readFileSync(join(__dirname, '..', '..', 'dist', 'browser', 'snippet.min.js'), 'utf8');
const config = { writeKey: 'wk-123', endpoint: 'https://collect.example.com', src: 'https://collect.example.com/sdk/tagflow.min.js' };

function runSnippet(): void {
  new Function(stubSource.replace('__TAGFLOW_CONFIG__', JSON.stringify(config)))();
}

type W = Window & { tagflow?: SnippetQueue };

describe('paste-in snippet', () => {
  beforeEach(() => {
    delete (window as W).tagflow;
    document.head.innerHTML = '';
  });

  it('is under 1 KB minified', () => {
    expect(Buffer.byteLength(stubSource.replace('__TAGFLOW_CONFIG__', '{}'))).toBeLessThanOrEqual(1024);
  });

  it('records calls in order, queues the first page view and loads the SDK asynchronously', () => {
    runSnippet();
    const stub = (window as W).tagflow as unknown as SnippetQueue & { track(...a: unknown[]): void; identify(...a: unknown[]): void };
    stub.track('Clicked', { a: 1 });
    stub.identify('u1');
    expect(stub.config).toEqual(config);
    expect(stub.map((call) => [...call])).toEqual([['page'], ['track', 'Clicked', { a: 1 }], ['identify', 'u1']]);
    const script = document.head.querySelector('script');
    expect(script?.getAttribute('src')).toBe(config.src);
    expect(script?.async).toBe(true);
  });

  it('does nothing when pasted twice', () => {
    runSnippet();
    runSnippet();
    expect(document.head.querySelectorAll('script')).toHaveLength(1);
    expect((window as W).tagflow?.map((call) => [...call])).toEqual([['page']]);
  });

  it('records with each call the URL and title of the page it was made on (an app may route before the SDK loads)', () => {
    history.replaceState(null, '', '/list?utm_source=ad');
    document.title = 'List';
    runSnippet();
    const stub = (window as W).tagflow as unknown as SnippetQueue & { track(...a: unknown[]): void };
    stub.track('Product Clicked');
    history.pushState(null, '', '/product');
    document.title = 'Product';
    stub.track('Viewed');
    const at = `${location.origin}/list?utm_source=ad`;
    expect(stub.map(({ href, title }) => ({ href, title }))).toEqual([
      { href: at, title: 'List' },
      { href: at, title: 'List' },
      { href: `${location.origin}/product`, title: 'Product' },
    ]);
  });
});

describe('README snippet', () => {
  it('is the current build of the stub', () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    const documented = { writeKey: 'YOUR_WRITE_KEY', endpoint: 'https://collect.example.com', src: 'https://collect.example.com/sdk/tagflow.min.js' };
    expect(readme).toContain(stubSource.trim().replace('__TAGFLOW_CONFIG__', JSON.stringify(documented)));
  });
});
