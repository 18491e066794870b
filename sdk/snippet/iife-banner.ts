// Entry of dist/browser/tagflow.banner.min.js: the consent banner, which the full build loads only
// for visitors who have not decided yet (returning visitors never download it).
import { showConsentBanner } from '../plugins/consent/banner';

(window as Window & { tagflowShowBanner?: typeof showConsentBanner }).tagflowShowBanner = showConsentBanner;
