// Type guards for the untrusted data plugins read: dataLayer pushes, GA4 e-commerce objects, containers.

/** A plain JSON-like object. */
export type Bag = Record<string, unknown>;

/** An object that is not null and not an array. */
export const isBag = (v: unknown): v is Bag => typeof v === 'object' && v !== null && !Array.isArray(v);
