// The WebGPU gate shared by every test suite that needs an adapter: a suite is skipped with one line when no adapter
// exists, unless TENSORZOO_REQUIRE_WEBGPU is set (CI), where the missing adapter is a failure naming what is missing.
import { initWebGPU, type Tensor } from '@tensorzoo/tensor';
import { describe, expect, it } from 'vitest';

let missing = '';
try {
  await initWebGPU();
} catch (e) {
  missing = (e as Error).message;
}

/** Why no WebGPU adapter was found ('' when one was). */
export const webgpuMissing = missing;
/** Whether WebGPU tests are skipped here: no adapter, and TENSORZOO_REQUIRE_WEBGPU unset. */
export const webgpuSkipped = missing !== '' && !process.env.TENSORZOO_REQUIRE_WEBGPU;

/** describe() for a WebGPU suite: skipped (one line) without an adapter, or one failing test when it is required. */
export function describeWebGPU(title: string, body: () => void): void {
  if (webgpuSkipped) {
    console.log(`${title}: skipped: ${missing}`);
    describe.skip(title, body);
    return;
  }
  describe(title, () => {
    if (missing) {
      it('finds an adapter (TENSORZOO_REQUIRE_WEBGPU is set)', () => {
        throw new Error(missing);
      });
      return;
    }
    body();
  });
}

/** The largest absolute difference between two tensors of the same size (read from any device). */
export async function maxDiff(a: Tensor, b: Tensor): Promise<number> {
  const [x, y] = [await a.data(), await b.data()];
  expect(x.length).toBe(y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(Number(x[i]) - Number(y[i])));
  return m;
}
