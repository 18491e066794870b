import { beforeEach, describe, expect, it } from 'vitest';
import { createPluginHost } from '../../../test/support/plugin-host';
import { showConsentBanner } from './banner';
import { consentPlugin } from './consent';

beforeEach(() => {
  localStorage.clear();
  document.body.innerHTML = '';
  document.documentElement.lang = 'en';
});

function setup() {
  const host = createPluginHost();
  const consent = consentPlugin();
  host.use(consent);
  return { host, consent };
}

const buttons = () => [...document.querySelectorAll('button')];

describe('consent banner', () => {
  it('is a labelled dialog with focus on its first button; Accept all grants everything', () => {
    const { consent } = setup();
    showConsentBanner(consent);
    const dialog = document.querySelector('[role="dialog"]')!;
    expect(document.getElementById(dialog.getAttribute('aria-labelledby')!)?.textContent).toBe('Your privacy');
    expect(document.getElementById(dialog.getAttribute('aria-describedby')!)?.textContent).toMatch(/cookies/);
    expect(buttons().map((b) => b.textContent)).toEqual(['Accept all', 'Reject all', 'Choose']);
    expect(document.activeElement).toBe(buttons()[0]);
    buttons()[0]!.click();
    expect(consent.get()).toEqual({ necessary: true, analytics: true, marketing: true, personalization: true });
    expect(document.querySelector('[role="dialog"]')).toBeNull();
  });

  it('lets the visitor choose purposes with checkboxes (necessary fixed on)', () => {
    const { consent } = setup();
    showConsentBanner(consent);
    const choose = buttons()[2]!;
    choose.click();
    expect(choose.getAttribute('aria-expanded')).toBe('true');
    const boxes = [...document.querySelectorAll<HTMLInputElement>('input[type=checkbox]')];
    expect(boxes.map((b) => [b.name, b.checked, b.disabled])).toEqual([
      ['necessary', true, true], ['analytics', false, false], ['marketing', false, false], ['personalization', false, false],
    ]);
    boxes[1]!.checked = true;
    choose.click();
    expect(consent.get()).toEqual({ necessary: true, analytics: true, marketing: false, personalization: false });
    expect(consent.decided()).toBe(true);
  });

  it('Reject all denies; not shown again once decided unless forced', () => {
    const { consent } = setup();
    showConsentBanner(consent);
    buttons()[1]!.click();
    expect(consent.get().analytics).toBe(false);
    expect(consent.decided()).toBe(true);
    showConsentBanner(consent);
    expect(buttons()).toEqual([]);
    showConsentBanner(consent, { force: true });
    expect(buttons()).toHaveLength(3);
  });

  it('speaks Russian on a Russian page and takes other strings', () => {
    const { consent } = setup();
    document.documentElement.lang = 'ru';
    showConsentBanner(consent);
    expect(buttons()[0]?.textContent).toBe('Принять все');
    document.body.innerHTML = '';
    showConsentBanner(consent, { strings: { acceptAll: 'Alle akzeptieren' } });
    expect(buttons()[0]?.textContent).toBe('Alle akzeptieren');
  });
});
