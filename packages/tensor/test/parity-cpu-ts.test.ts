// The op parity suite on 'cpu' with the WebAssembly accelerators off: the TypeScript kernels alone.
import { expect, it } from 'vitest';
import { setWasmAccelerators, wasmAccelerators } from '../dist/backend/cpu/index.js';
import { paritySuite } from './parity.js';

paritySuite({
  name: 'cpu (TypeScript kernels)',
  device: 'cpu',
  before: () => {
    setWasmAccelerators(false);
    expect(wasmAccelerators()).toBe(false);
  },
  after: () => setWasmAccelerators(true),
});

it('setWasmAccelerators turns the accelerators back on', () => {
  setWasmAccelerators(true);
  expect(wasmAccelerators()).toBe(true);
});
