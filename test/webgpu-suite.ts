// The WebGPU gate shared by every test suite that needs an adapter: a suite is skipped with one line when no adapter
// exists, unless TENSORZOO_REQUIRE_WEBGPU is set (CI), where the missing adapter is a failure naming what is missing.
import { initWebGPU } from '@tensorzoo/tensor';
import { describe, it } from 'vitest';

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
