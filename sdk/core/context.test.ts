import { describe, expect, it } from 'vitest';
import { browserContext, campaignOf, staticContext } from './context';

describe('campaignOf', () => {
  it('reads utm_* parameters, naming utm_campaign `name` as the Segment Spec does', () => {
    expect(campaignOf('?utm_source=news&utm_medium=email&utm_campaign=spring&utm_term=shoes&utm_content=a&page=2')).toEqual({
      source: 'news',
      medium: 'email',
      name: 'spring',
      term: 'shoes',
      content: 'a',
    });
  });

  it('gives nothing without utm_ parameters', () => {
    expect(campaignOf('?page=2')).toBeUndefined();
    expect(campaignOf('')).toBeUndefined();
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
});
