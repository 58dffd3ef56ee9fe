import { pino, type Logger } from 'pino';

export interface LoggerOptions {
  /**
   * Gather the per-request lines and write them in batches (at most a quarter of a second late) instead of
   * one write per line: for a long-running server. Call flushLogs() before exiting. Functions, which may be frozen as
   * soon as they answer, write each line at once (the default).
   */
  buffered?: boolean;
}

const flushers: (() => void)[] = [];
/** Loggers whose destination is buffered, and the batch of access lines each gathers in front of it. */
const batches = new WeakMap<Logger, { text: string }>();

/** Structured logs; credentials are redacted wherever they might be attached. */
export function createLogger(level: string, options: LoggerOptions = {}): Logger {
  let destination: pino.DestinationStream | undefined;
  if (options.buffered) {
    // Access lines are gathered below into 8 KiB writes, each written at once: an asynchronous write is handed
    // to a thread-pool thread, and waking it for every batch cost more than the write itself.
    destination = pino.destination({ dest: 1, sync: true });
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
  if (options.buffered && destination) {
    const stream = destination as ReturnType<typeof pino.destination>;
    const batch = { text: '' };
    batches.set(logger, batch);
    const drain = () => {
      if (batch.text) stream.write(batch.text);
      batch.text = '';
    };
    setInterval(drain, 250).unref();
    flushers.push(() => {
      drain();
      stream.flushSync();
    });
  }
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

/** The fields of the one line logged per request. */
export interface AccessEntry {
  requestId: string;
  /** Our own id when the client sent its own: the one audit events record. */
  serverRequestId?: string;
  method: string;
  path: string;
  operationId: string | undefined;
  status: number;
  callerId: string | undefined;
  durationMs: number;
}

/**
 * Writes the per-request line in the logger's own format, to its own destination, built in one
 * JSON.stringify: a request's fields are all set by the core and hold nothing secret, so they need neither
 * redaction nor pino's general serialisation, which cost more than the rest of a small request.
 */
export function createAccessLog(logger: Logger): (entry: AccessEntry) => void {
  const stream = (logger as unknown as Record<symbol, { write(line: string): void }>)[pino.symbols.streamSym];
  const bindings = (logger as unknown as Record<symbol, string>)[pino.symbols.chindingsSym] ?? '';
  if (!stream) return (entry) => logger.info(entry, 'request');
  // A buffered logger's access lines are gathered into one write per 8 KiB (or per quarter second).
  const batch = batches.get(logger);
  return (entry) => {
    if (!logger.isLevelEnabled('info')) return;
    const line = `{"level":30,"time":${Date.now()}${bindings},${JSON.stringify(entry).slice(1, -1)},"msg":"request"}\n`;
    if (!batch) return void stream.write(line);
    batch.text += line;
    if (batch.text.length >= 8_192) {
      stream.write(batch.text);
      batch.text = '';
    }
  };
}
