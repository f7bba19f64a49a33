// Group commit and batched reads for the token endpoint. Concurrent requests that need the same kind of statement
// (an issuance write, a lookup by key) share one round trip: what is asked for during one turn of the event loop goes
// out together at its end (setImmediate), and while a statement is in flight later items queue for the next one, so
// batches grow with load and an idle server adds no wait but the rest of the current turn. Each caller still gets its own answer, and only after its own statement has finished (for a write: has
// committed). A batch that fails is retried item by item, so one bad item fails only its own request.
// Round trips, not fsyncs, dominate on these machines (shared/notes/performance.md).

export type BatchOptions<T, R> = {
  /** Runs one statement for these items; answers one result per item, in order. */
  run(items: T[]): Promise<R[]>;
  /** Most items in one statement. */
  maxBatch: number;
  /** Statements of this kind in flight at once (each holds a pool connection). */
  maxInFlight: number;
};

type Waiting<T, R> = { item: T; resolve(value: R): void; reject(error: unknown): void };

export function createBatcher<T, R>(options: BatchOptions<T, R>): (item: T) => Promise<R> {
  const queue: Array<Waiting<T, R>> = [];
  let inFlight = 0;
  let scheduled = false;

  async function runBatch(batch: Array<Waiting<T, R>>): Promise<void> {
    let results: R[];
    try {
      results = await options.run(batch.map((waiting) => waiting.item));
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      // Which item failed is unknown: each gets its own statement, and only the bad ones fail.
      await Promise.all(batch.map((waiting) => runBatch([waiting])));
      return;
    }
    batch.forEach((waiting, i) => waiting.resolve(results[i]!));
  }

  function pump(): void {
    while (inFlight < options.maxInFlight && queue.length > 0) {
      const batch = queue.splice(0, options.maxBatch);
      inFlight += 1;
      void runBatch(batch).finally(() => {
        inFlight -= 1;
        pump();
      });
    }
  }

  return (item: T) =>
    new Promise<R>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        pump();
      });
    });
}
