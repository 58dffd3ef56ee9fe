import { pino, type Logger } from 'pino';

export interface LoggerOptions {
  /**
   * Gather lines and write them in batches (at most a quarter of a second late) instead of one write per
   * line: for a long-running server. Call flushLogs() before exiting. Functions, which may be frozen as
   * soon as they answer, write each line at once (the default).
   */
  buffered?: boolean;
}

const flushers: (() => void)[] = [];

/** Structured logs; credentials are redacted wherever they might be attached. */
export function createLogger(level: string, options: LoggerOptions = {}): Logger {
  let destination: pino.DestinationStream | undefined;
  if (options.buffered) {
    const stream = pino.destination({ dest: 1, sync: false, minLength: 8_192 });
    setInterval(() => stream.flush(), 250).unref();
    flushers.push(() => stream.flushSync());
    destination = stream;
  }
  const logger = pino(
    {
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
    },
    destination,
  );
  return logger;
}

/** Writes out what buffered loggers still hold; call it before the process exits. */
export function flushLogs(): void {
  for (const flush of flushers) {
    try {
      flush();
    } catch {
      // a closed stdout: nothing more can be written
    }
  }
}
