// Before reading memory(): collect garbage and let the FinalizationRegistry callbacks run, so that tensors an earlier
// test dropped without dispose() are counted out now and not in the middle of a measurement (vitest runs with
// --expose-gc).

/** Runs the garbage collector and yields a few tasks for finalizers to run. */
export async function settle(): Promise<void> {
  (globalThis as { gc?: () => void }).gc?.();
  for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 0));
}
