// Debian's Chromium for the real-browser tests (never a downloaded browser build).
import { ensureProgram } from './system-packages';

export const chromiumPath = '/usr/bin/chromium';

export function ensureChromium(): string {
  return ensureProgram(['chromium'], ['chromium'], 'Install it with `sudo apt-get install chromium`; the browser tests drive /usr/bin/chromium.');
}
