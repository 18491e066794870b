// Entry of the full browser build (dist/browser/tagflow.full.min.js): the core plus every plugin and
// web-vitals. The snippet's settings choose and configure the plugins:
//   { writeKey, endpoint, src, debug?,
//     consent?: ConsentOptions & { banner?: BannerOptions | true },  // no consent manager unless given
//     tags?: { container?, url?, nonce?, globals? } | true,          // no tag manager unless given
//     page?: PagePluginOptions | false, cart?: false, dataLayer?: string | false, vitals?: false, feedback?: false }
// The plugins' APIs hang on the instance: tagflow.consent, tagflow.cart, tagflow.feedback, tagflow.tags.
// The banner is a file of its own (tagflow.banner.min.js, next to this one), loaded only when needed.
import type { Tagflow } from '../core/types';
import type { BannerOptions, showConsentBanner } from '../plugins/consent/banner';
import type { ConsentOptions } from '../plugins/consent/consent';
import type { PagePluginOptions } from '../plugins/page';
import type { TagsOptions } from '../plugins/tags/tags';
// The order of these imports is the modules' order in the build, chosen because it compresses best
// (brotli finds more matches between neighbours): found by trying each import at each place, worth
// a few dozen bytes, and worth re-trying after large changes.
import { injectScript } from '../plugins/script';
import { replay, type SnippetQueue } from './queue';
import { dataLayerBridge } from '../plugins/datalayer-bridge';
import { cartPlugin } from '../plugins/cart';
import { feedbackPlugin } from '../plugins/feedback';
import { consentPlugin } from '../plugins/consent/consent';
import { tagsPlugin } from '../plugins/tags/tags';
import { pagePlugin } from '../plugins/page';
import { vitalsPlugin } from '../plugins/vitals';
import { createTagflow } from '../core/create';

/** The snippet settings the full build understands, on top of the core's. */
export interface FullBuildSettings {
  consent?: ConsentOptions & { banner?: BannerOptions | true };
  tags?: Pick<TagsOptions, 'container' | 'url' | 'nonce' | 'dataLayer' | 'globals'> | true;
  page?: PagePluginOptions | false;
  cart?: false;
  dataLayer?: string | false;
  vitals?: false;
  feedback?: false;
}

const w = window as Window & { tagflow?: SnippetQueue | Tagflow };
const stub = w.tagflow as SnippetQueue | undefined; // or the instance, when this file is loaded twice: it has no config
if (stub?.config) {
  try {
    const config = stub.config as SnippetQueue['config'] & FullBuildSettings;
    const tagflow = createTagflow(config) as Tagflow & Record<string, unknown>;
    const consent = config.consent ? consentPlugin(config.consent) : undefined;
    const tags = config.tags === true ? {} : config.tags;
    // Order matters for beforeQueue: page drops repeated views first; cart adds its cart_id before consent
    // (which strips it when cookieless); tags come before consent, so they also see events consent holds
    // back (for tags that need no consent). All of them are in place before the snippet's calls are
    // replayed, so they see those too. The GA4 bridge (no beforeQueue) comes after the replay, so the
    // dataLayer pushes made before the SDK loaded are tracked after the landing page view the snippet
    // queued, not before it; what tags pushed during the replay it skips (see watchDataLayer).
    if (config.page !== false) tagflow.use(pagePlugin(config.page || {}));
    if (config.cart !== false) tagflow.use((tagflow.cart = cartPlugin()));
    if (tags) {
      const url = tags.url ?? `${config.endpoint.replace(/\/+$/, '')}/v1/container/${encodeURIComponent(config.writeKey)}`;
      tagflow.use((tagflow.tags = tagsPlugin({ ...tags, url, consent })));
    }
    if (consent) tagflow.use((tagflow.consent = consent));
    if (config.vitals !== false) tagflow.use(vitalsPlugin());
    if (config.feedback !== false) tagflow.use((tagflow.feedback = feedbackPlugin()));
    w.tagflow = tagflow;
    replay(tagflow, stub);
    if (config.dataLayer !== false) tagflow.use(dataLayerBridge({ name: config.dataLayer || 'dataLayer' }));
    const banner = config.consent?.banner;
    if (consent && banner && !consent.decided()) {
      injectScript(config.src.replace(/[^/]*$/, 'tagflow.banner.min.js'), tags?.nonce, () =>
        (w as { tagflowShowBanner?: typeof showConsentBanner }).tagflowShowBanner?.(consent, banner === true ? {} : banner),
      );
    }
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
  }
}
