/**
 * Runs `task` for each item, at most `jobs` at once. After a failure nothing new starts; the
 * tasks already running finish (a bootstrap's builds already under way are recorded, so a rerun
 * keeps them), then the first failure is thrown.
 */
export async function inPool<T>(items: T[], jobs: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: { error: unknown } | undefined;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++] as T;
      try {
        await task(item);
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, jobs), items.length) }, worker));
  if (failed) throw failed.error;
}
