// Reading a request: its id, path, query string and body, refused with a named 4xx where they cannot be
// read or stored (Postgres text holds neither NUL nor unpaired surrogates).
import { randomUUID } from 'node:crypto';
import { ApiError } from '../kernel/errors.js';
import type { Operation } from './contract.js';
import type { HttpRequest } from './types.js';

const requestIdPattern = /^[A-Za-z0-9._-]{1,128}$/;

// New ids are this process's random prefix and a counter: unique across instances, and cheap.
const idPrefix = `req_${randomUUID().replace(/-/g, '').slice(0, 20)}`;
let idCounter = 0;

/** A new id of ours (`req_` and 32 hex digits): the only kind the database stores. */
export function newRequestId(): string {
  idCounter = (idCounter + 1) % 0x1000000000000;
  return idPrefix + idCounter.toString(16).padStart(12, '0');
}

/** The client's X-Request-Id when it is a sensible token: echoed and logged, never stored as ours. */
export function clientRequestIdOf(http: HttpRequest): string | undefined {
  const incoming = http.headers['x-request-id'];
  if (incoming === undefined) return undefined;
  const value = single(incoming);
  return value && requestIdPattern.test(value) ? value : undefined;
}

/** The client's X-Request-Id when it is a sensible token, else a new one. */
export function requestIdOf(http: HttpRequest): string {
  return clientRequestIdOf(http) ?? newRequestId();
}

/** Refuses a path or query string that is not percent-encoded UTF-8 or that carries NUL. */
export function checkTarget(http: HttpRequest): void {
  if (http.path.includes('%')) {
    if (!decodes(http.path)) {
      throw new ApiError('VALIDATION_ERROR', 'The path is not valid percent-encoded UTF-8.', [
        { field: 'path', message: 'is not valid percent-encoding' },
      ]);
    }
    if (/%00/i.test(http.path)) throw nulError('path');
  }
  if (http.query.includes('%') && /%00/i.test(http.query)) throw nulError('query');
}

/** The query string as name → value (or values, when a name repeats). */
export function parseQuery(query: string): Record<string, string | string[]> {
  // No prototype: a parameter named `__proto__` is a name like any other (and refused as unknown).
  const parsed = Object.create(null) as Record<string, string | string[]>;
  if (query === '') return parsed;
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    const name = decodeComponent(equals === -1 ? pair : pair.slice(0, equals));
    const value = equals === -1 ? '' : decodeComponent(pair.slice(equals + 1));
    const existing = parsed[name];
    if (existing === undefined) parsed[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else parsed[name] = [existing, value];
  }
  return parsed;
}

function decodeComponent(text: string): string {
  const spaced = text.includes('+') ? text.replace(/\+/g, ' ') : text;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    throw new ApiError('VALIDATION_ERROR', 'The query string is not valid percent-encoded UTF-8.', [
      { field: 'query', message: 'is not valid percent-encoding' },
    ]);
  }
}

/** Text in a body that Postgres cannot store: the field that holds it and why. */
type Unstorable = { field: string; problem: string };

/**
 * A request body as read: parsed JSON, or text of another media type the operation takes; `unstorable` names
 * text Postgres cannot store, refused by checkBody once the caller is known.
 */
export type Body =
  | { json: true; value: unknown; unstorable?: Unstorable }
  | { json: false; value: string; mediaType: string; unstorable?: Unstorable }
  | undefined;

/**
 * Reads the body's bytes before the caller is known: 413 past the size limit, 415 for a media type the
 * operation does not take, 400 for JSON or multipart that does not parse. What the body says waits for
 * authentication, as the schema does (checkBody).
 */
export function parseBody(operation: Operation, http: HttpRequest, maxBodyBytes: number): Body {
  const { requestBody } = operation;
  if (!requestBody) return undefined; // bodies sent to operations that take none are ignored, whatever their size
  if (http.body && http.body.length > maxBodyBytes) {
    throw new ApiError('PAYLOAD_TOO_LARGE', `The request body is larger than ${maxBodyBytes} bytes.`);
  }
  if (!http.body || http.body.length === 0) return undefined;
  const accepted = Object.keys(requestBody.content);
  const mediaType = (single(http.headers['content-type']) ?? '').split(';')[0]!.trim().toLowerCase();
  if (!accepted.includes(mediaType)) {
    throw new ApiError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Send the body as ${accepted.join(' or ')}${mediaType ? `, not ${mediaType}` : ' (Content-Type is missing)'}.`,
    );
  }
  if (mediaType === 'multipart/form-data') {
    // Read into the shape of the operation's JSON body, so that one validator checks both.
    const files = readMultipartFiles(http.body, single(http.headers['content-type']) ?? '');
    return { json: true, value: { files }, unstorable: files.some((file) => file.content.includes('\u0000')) ? nul('body') : undefined };
  }
  const text = http.body.toString('utf8');
  if (mediaType !== 'application/json')
    return { json: false, value: text, mediaType, unstorable: text.includes('\u0000') ? nul('body') : undefined };
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    // The parser's message quotes the body; the client gets a plain statement instead.
    throw new ApiError('VALIDATION_ERROR', 'The request body is not valid JSON.', [{ field: 'body', message: 'is not valid JSON' }]);
  }
  // Only a \u escape can bring NUL or a lone surrogate into decoded text: walk the value only then.
  const unstorable = text.includes('\\u') && /\\u(0000|d[89a-f])/i.test(text) ? findUnstorableText(value, 'body') : undefined;
  return unstorable ? { json: true, value, unstorable } : { json: true, value };
}

/**
 * What a body says, checked once the caller is known (as the schema is, right after): 400 when a required body
 * is missing, when its text holds NUL or an unpaired surrogate, or when a text body (not JSON, which the schema
 * validator checks) is longer than its media type's `maxLength`, naming the field.
 */
export function checkBody(operation: Operation, body: Body): void {
  if (!body) {
    if (operation.requestBody?.required)
      throw new ApiError('VALIDATION_ERROR', 'The request body is required.', [{ field: 'body', message: 'is required' }]);
    return;
  }
  if (body.unstorable) throw unstorableTextError(body.unstorable.field, body.unstorable.problem);
  const maxLength = body.json ? undefined : operation.requestBody?.content[body.mediaType]?.schema?.maxLength;
  // Characters as JSON Schema counts them (code points); UTF-16 units are never fewer, so most bodies skip the count.
  if (!body.json && typeof maxLength === 'number' && body.value.length > maxLength && [...body.value].length > maxLength)
    throw new ApiError('VALIDATION_ERROR', 'The request is invalid.', [
      { field: 'body', message: `must NOT have more than ${maxLength} characters` },
    ]);
}

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function textProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'must not contain NUL characters';
  if (loneSurrogate.test(text)) return 'must be valid Unicode (no unpaired surrogate)';
  return undefined;
}

/** The first field whose text (or key) Postgres cannot store, as `body.a.0.b`, and why. */
function findUnstorableText(value: unknown, field: string): { field: string; problem: string } | undefined {
  if (typeof value === 'string') {
    const problem = textProblem(value);
    return problem ? { field, problem } : undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  for (const [key, item] of Object.entries(value)) {
    const problem = textProblem(key);
    if (problem) return { field, problem };
    const found = findUnstorableText(item, `${field}.${key}`);
    if (found) return found;
  }
  return undefined;
}

function unstorableTextError(field: string, problem: string): ApiError {
  return new ApiError('VALIDATION_ERROR', `Invalid ${field}: text ${problem}.`, [{ field, message: problem }]);
}

function nul(field: string): Unstorable {
  return { field, problem: 'must not contain NUL characters' };
}

function nulError(field: string): ApiError {
  return unstorableTextError(field, nul(field).problem);
}

/** The operation's header parameters under the names the contract gives them (requests arrive lower-cased). */
export function declaredHeaders(operation: Operation, http: HttpRequest): Record<string, string | undefined> {
  const headers: Record<string, string | undefined> = {};
  for (const parameter of operation.parameters) {
    if (parameter.in === 'header') headers[parameter.name] = single(http.headers[parameter.name.toLowerCase()]);
  }
  return headers;
}

function decodes(path: string): boolean {
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}

export function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The file parts of a multipart/form-data body as `{name, content}` (text, UTF-8), in order: each part's
 * `filename` (or its field name) and its bytes. Refused with a 400 naming the body when it cannot be read.
 */
function readMultipartFiles(body: Buffer, contentType: string): { name: string; content: string }[] {
  const boundary = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const unreadable = (message: string) => new ApiError('VALIDATION_ERROR', `The multipart body ${message}.`, [{ field: 'body', message }]);
  if (!boundary) throw unreadable('has no boundary in its Content-Type');
  const delimiter = `--${boundary[1] ?? boundary[2]}`;
  const text = body.toString('utf8');
  const sections = text.split(delimiter);
  if (sections.length < 3 || !sections[sections.length - 1]!.startsWith('--')) throw unreadable('is not closed by its boundary');
  const files: { name: string; content: string }[] = [];
  for (const section of sections.slice(1, -1)) {
    const part = section.replace(/^\r?\n/, '');
    const headerEnd = part.search(/\r?\n\r?\n/);
    if (headerEnd === -1) throw unreadable('has a part without headers');
    const headers = part.slice(0, headerEnd);
    const content = part
      .slice(headerEnd)
      .replace(/^\r?\n\r?\n/, '')
      .replace(/\r?\n$/, '');
    const disposition = /content-disposition:\s*form-data([^\r\n]*)/i.exec(headers)?.[1] ?? '';
    const filename = /;\s*filename="([^"]*)"/i.exec(disposition)?.[1];
    const field = /;\s*name="([^"]*)"/i.exec(disposition)?.[1];
    if (filename === undefined && field === undefined) throw unreadable('has a part that is not form data');
    files.push({ name: filename || field || 'file', content });
  }
  return files;
}
