// Racing work against a timer, for a single wait the service bounds (a health ping). Request deadlines are
// swept by one timer for all requests instead (http/app.ts).

/** The work's outcome, or `onTimeout()`'s error once `ms` have passed; the timer never outlives the race. */
export async function withTimeLimit<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), Math.max(0, ms));
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
