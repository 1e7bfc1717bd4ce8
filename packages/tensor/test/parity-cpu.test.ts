// The op parity suite on 'cpu' with its WebAssembly accelerators on (the default).
import { expect, it } from 'vitest';
import { wasmAccelerators } from '../dist/backend/cpu/index.js';
import { paritySuite } from './parity.js';

it('the WebAssembly accelerators are on in Node', () => {
  expect(wasmAccelerators()).toBe(true);
});

paritySuite({ name: 'cpu (wasm accelerators)', device: 'cpu' });
