// An optional consent banner in plain DOM: native buttons and checkboxes (so keyboard and screen
// readers work without extra code), a labelled dialog region, English and Russian built in.
import type { ConsentPlugin } from './consent';

/** Every text the banner shows; `purposes` labels each purpose by its id. */
export interface BannerStrings {
  title: string;
  text: string;
  acceptAll: string;
  rejectAll: string;
  customize: string;
  save: string;
  purposes: Record<string, string>;
}

export const bannerStrings: Record<'en' | 'ru', BannerStrings> = {
  en: {
    title: 'Your privacy',
    text: 'We use cookies and similar technologies to measure and improve this site. Choose what you allow; you can change it at any time.',
    acceptAll: 'Accept all',
    rejectAll: 'Reject all',
    customize: 'Choose',
    save: 'Save choices',
    purposes: { necessary: 'Necessary (always on)', analytics: 'Analytics', marketing: 'Marketing', personalization: 'Personalization' },
  },
  ru: {
    title: 'Ваша конфиденциальность',
    text: 'Мы используем cookie и похожие технологии, чтобы измерять и улучшать сайт. Выберите, что разрешить; выбор можно изменить в любое время.',
    acceptAll: 'Принять все',
    rejectAll: 'Отклонить все',
    customize: 'Выбрать',
    save: 'Сохранить выбор',
    purposes: { necessary: 'Необходимые (всегда включены)', analytics: 'Аналитика', marketing: 'Маркетинг', personalization: 'Персонализация' },
  },
};

export interface BannerOptions {
  /** Built-in language (default: the page's `<html lang>` when it is Russian, else English). */
  lang?: 'en' | 'ru';
  /** Texts to use instead of (or on top of) the built-in ones, e.g. for another language. */
  strings?: Partial<BannerStrings>;
  /** Show even when the visitor has decided (e.g. from a "privacy settings" link). */
  force?: boolean;
  /** Where to put the banner (default document.body). */
  parent?: HTMLElement;
}

const style =
  'position:fixed;left:1rem;right:1rem;bottom:1rem;z-index:2147483647;max-width:40rem;margin:auto;padding:1rem;background:#fff;color:#222;border:1px solid #888;border-radius:.5rem;box-shadow:0 2px 12px #0004;font:15px/1.4 system-ui,sans-serif';

/** An element with attributes (set as attributes, so `style` and `aria-*` work alike) and children. */
function element(tag: string, attributes: Record<string, string>, ...children: (Node | string)[]): HTMLElement {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/**
 * Shows the banner unless the visitor has decided; resolves nothing, returns a function that removes it.
 * Choices go to `consent.set`, which persists them and emits `Consent Updated`.
 */
export function showConsentBanner(consent: ConsentPlugin, options: BannerOptions = {}): () => void {
  if (consent.decided() && !options.force) return () => undefined;
  const lang = options.lang ?? (document.documentElement.lang.startsWith('ru') ? 'ru' : 'en');
  const t: BannerStrings = { ...bannerStrings[lang], ...options.strings };
  const id = `tf-consent-${Math.random().toString(36).slice(2, 8)}`;
  const choosable = consent.purposes.filter((p) => p !== 'necessary');
  const state = consent.get();

  const boxes = consent.purposes.map((purpose) => {
    const box = element('input', { type: 'checkbox', name: purpose }) as HTMLInputElement;
    box.checked = state[purpose] === true;
    box.disabled = purpose === 'necessary';
    return box;
  });
  const details = element(
    'fieldset',
    { id: `${id}-choices`, style: 'border:0;padding:0;margin:.5rem 0' },
    element('legend', { style: 'position:absolute;left:-9999px' }, t.customize),
    ...boxes.map((box) => element('label', { style: 'display:block' }, box, ` ${t.purposes[box.name] ?? box.name}`)),
  );
  details.hidden = true;
  const root = element(
    'div',
    { role: 'dialog', 'aria-modal': 'false', 'aria-labelledby': `${id}-title`, 'aria-describedby': `${id}-text`, style, class: 'tf-consent' },
    element('h2', { id: `${id}-title`, style: 'margin:0 0 .5rem;font-size:1.1em' }, t.title),
    element('p', { id: `${id}-text`, style: 'margin:0 0 .5rem' }, t.text),
    details,
  );

  const close = () => root.remove();
  const decide = (choices: Record<string, boolean>) => {
    close();
    consent.set(choices);
  };
  const all = (granted: boolean) => Object.fromEntries(choosable.map((p) => [p, granted]));
  const button = (label: string, onClick: () => void) => {
    const b = element('button', { type: 'button', style: 'margin:.25rem .5rem 0 0;font:inherit;padding:.4rem 1rem' }, label);
    b.addEventListener('click', onClick);
    return b;
  };
  const customize = button(t.customize, () => {
    if (details.hidden) {
      details.hidden = false;
      customize.setAttribute('aria-expanded', 'true');
      customize.textContent = t.save;
      boxes[1]?.focus();
    } else {
      decide(Object.fromEntries(boxes.map((box) => [box.name, box.checked])));
    }
  });
  customize.setAttribute('aria-expanded', 'false');
  customize.setAttribute('aria-controls', details.id);
  const accept = button(t.acceptAll, () => decide(all(true)));
  root.append(accept, button(t.rejectAll, () => decide(all(false))), customize);
  root.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !details.hidden) {
      details.hidden = true;
      customize.textContent = t.customize;
      customize.setAttribute('aria-expanded', 'false');
      customize.focus();
    }
  });
  (options.parent ?? document.body).append(root);
  accept.focus();
  return close;
}
