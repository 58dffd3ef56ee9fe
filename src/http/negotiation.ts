// Content negotiation for the operations that answer in more than one media type (handlers may use it).
/**
 * Whether an Accept header prefers `mediaType` to JSON (by q-value; JSON wins ties and what names neither).
 * Wildcard ranges (a whole type, or any type) count for both.
 */
export function prefers(accept: string | undefined, mediaType: string): boolean {
  if (!accept) return false;
  const quality = (wanted: string) => {
    let best = 0;
    let specificity = -1;
    for (const part of accept.split(',')) {
      const [range = '', ...params] = part.trim().toLowerCase().split(';');
      const [type, subtype] = range.trim().split('/');
      const [wantedType, wantedSubtype] = wanted.split('/');
      const level =
        type === wantedType && subtype === wantedSubtype ? 2 : type === wantedType && subtype === '*' ? 1 : type === '*' ? 0 : -1;
      if (level < 0 || level < specificity) continue;
      const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find(Boolean);
      specificity = level;
      best = q === undefined ? 1 : Number(q);
    }
    return best;
  };
  return quality(mediaType) > quality('application/json');
}
