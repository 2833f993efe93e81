// Polling for something a test waits on (a proposal in Redis, a flag in the snapshot, a report
// with all the counts): one loop for every test that waits for a value to appear.

/**
 * Calls `probe` every `everyMs` until it returns a truthy value, and returns that value; throws
 * an error naming `what` when `ms` have passed without one.
 */
export async function until<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  ms = 10_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
