import type { ErrorObject } from 'ajv';
import type { ErrorDetail } from '../kernel/errors.js';

const locations: Record<string, string> = {
  requestBody: 'body',
  query: 'query',
  path: 'path',
  header: 'header',
  cookie: 'cookie',
};

/** Turns Ajv's errors over the validated `{path, query, header, requestBody}` object into named fields. */
export function toErrorDetails(errors: readonly ErrorObject[]): ErrorDetail[] {
  const details = new Map<string, ErrorDetail>();
  for (const error of errors) {
    const segments = error.instancePath.split('/').slice(1).map(decodePointerSegment);
    const [location = 'requestBody', ...rest] = segments;
    const params = error.params as Record<string, unknown>;
    let message = error.message ?? 'is invalid';
    if (error.keyword === 'required' && typeof params.missingProperty === 'string') {
      rest.push(params.missingProperty);
      message = 'is required';
    } else if (error.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string') {
      rest.push(params.additionalProperty);
      message = location === 'query' ? 'is not a parameter of this operation' : 'is not a known property';
    } else if (error.keyword === 'enum' && Array.isArray(params.allowedValues)) {
      message = `must be one of: ${params.allowedValues.join(', ')}`;
    } else if (error.keyword === 'const') {
      message = `must be ${JSON.stringify(params.allowedValue)}`;
    } else if (error.keyword === 'parse') {
      message = 'is not valid JSON';
    }
    const field = [locations[location] ?? location, ...rest].join('.');
    // oneOf/anyOf add a summary error on the parent after the specific ones: keep the most specific.
    if (['oneOf', 'anyOf'].includes(error.keyword) && [...details.keys()].some((f) => f.startsWith(`${field}.`))) continue;
    if (!details.has(`${field}\u0000${message}`)) details.set(`${field}\u0000${message}`, { field, message });
  }
  return [...details.values()];
}

function decodePointerSegment(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}
