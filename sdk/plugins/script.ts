// Adds a <script src> to the page, with the page's CSP nonce when one is configured. Used by the tag
// manager's script tags and by the full build to load the consent banner. Scripts inserted this way
// run asynchronously by default (no `async` needed).

/** Appends the script to <head>; `onload` runs once it has run. */
export function injectScript(src: string, nonce?: string, onload?: () => void): void {
  const script = document.createElement('script');
  script.src = src;
  if (nonce) script.nonce = nonce;
  if (onload) script.onload = onload;
  document.head.appendChild(script);
}
