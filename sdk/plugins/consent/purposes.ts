// Consent purposes and their shape on the wire (Segment's context.consent.categoryPreferences).

/** Purpose → granted. */
export type Preferences = Record<string, boolean>;

/** The default purposes; `necessary` is always granted. */
export const defaultPurposes = ['necessary', 'analytics', 'marketing', 'personalization'];
