/**
 * A random UUID v4: crypto.randomUUID where there is one (secure contexts of current browsers), else the
 * one the browser generates for every blob URL (the File API makes it `blob:<origin>/<UUID>`), on
 * plain-http pages and in older browsers (Safari before 15.4, Chrome before 92). The URL is revoked at
 * once, so nothing is left registered.
 */
export function uuid(): string {
  let id: string | undefined = crypto.randomUUID?.();
  if (!id) URL.revokeObjectURL((id = URL.createObjectURL(new Blob())));
  return id.slice(-36);
}
