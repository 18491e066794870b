import { describe, expect, it } from 'vitest';
import { browserContext, campaignOf, replaying, staticContext } from './context';

describe('campaignOf', () => {
  it('reads utm_* parameters, naming utm_campaign `name` as the Segment Spec does', () => {
    expect(campaignOf(new URLSearchParams('?utm_source=news&utm_medium=email&utm_campaign=spring&utm_term=shoes&utm_content=a&page=2'))).toEqual({
      source: 'news',
      medium: 'email',
      name: 'spring',
      term: 'shoes',
      content: 'a',
    });
  });

  it('gives nothing without utm_ parameters', () => {
    expect(campaignOf(new URLSearchParams('?page=2'))).toBeUndefined();
    expect(campaignOf(new URLSearchParams(''))).toBeUndefined();
  });
});

describe('browserContext', () => {
  it('describes the library, page, user agent, locale, timezone and screen', () => {
    const context = browserContext(staticContext());
    expect(context).toMatchObject({
      library: { name: 'tagflow', version: expect.any(String) },
      page: { url: location.href, path: location.pathname, search: location.search, title: document.title, referrer: document.referrer },
      userAgent: navigator.userAgent,
      locale: navigator.language,
      timezone: expect.any(String),
      screen: { width: expect.any(Number), height: expect.any(Number), density: expect.any(Number) },
    });
  });

  it("while a queued call is replayed, describes the page it was made on (URL, path, search, campaign, title)", () => {
    document.title = 'Product';
    replaying({ href: 'https://shop.example.com/list?utm_source=ad&utm_campaign=spring', title: 'List' });
    const replayed = browserContext(staticContext());
    replaying();
    expect(replayed.page).toEqual({ url: 'https://shop.example.com/list?utm_source=ad&utm_campaign=spring', path: '/list', search: '?utm_source=ad&utm_campaign=spring', title: 'List', referrer: document.referrer });
    expect(replayed.campaign).toEqual({ source: 'ad', name: 'spring' });
    expect(browserContext(staticContext()).page).toMatchObject({ url: location.href, title: 'Product' }); // after the replay: the page now
  });

  it('uses the page now for calls that carry no page (stubs pasted before they did), and the title now when none was read', () => {
    document.title = 'Product';
    replaying({}); // an old stub's call
    expect(browserContext(staticContext()).page).toMatchObject({ url: location.href, path: location.pathname, title: 'Product' });
    replaying({ href: 'https://shop.example.com/list', title: '' }); // the snippet ran above <title>
    expect(browserContext(staticContext()).page).toMatchObject({ url: 'https://shop.example.com/list', title: 'Product' });
    replaying();
  });
});
