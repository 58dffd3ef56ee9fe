// Entity tags: one hash of a representation, shared by the responses that send it (ETag) and the services
// that check a client's If-Match against the current state before they change it.
import { createHash } from 'node:crypto';

/** A strong entity tag of a body: its SHA-1, which changes whenever a byte of it does. */
export function entityTag(text: string): string {
  return `"${createHash('sha1').update(text).digest('base64url')}"`;
}

/** The tag a GET of one resource answers for `data`: that of its success envelope, as the API serialises it. */
export function representationTag(data: unknown): string {
  return entityTag(JSON.stringify({ success: true, data }));
}

/** Whether If-Match names the current tag (or `*`), compared strongly as RFC 9110 asks. */
export function ifMatchHolds(ifMatch: string, etag: string): boolean {
  if (ifMatch.trim() === '*') return true;
  return ifMatch.split(',').some((candidate) => candidate.trim() === etag);
}
