import { pino, type Logger } from 'pino';

/** Structured logs; credentials are redacted wherever they might be attached. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'staffroom' },
    redact: {
      paths: [
        'headers.authorization',
        'headers["x-api-key"]',
        'headers["stripe-signature"]',
        'req.headers.authorization',
        '*.password',
        '*.token',
        '*.secret',
        '*.apiKey',
      ],
      censor: '[redacted]',
    },
  });
}
