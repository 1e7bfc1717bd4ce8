// Errors are part of the API: every bad input throws an Error that names the op and the offending shapes/values.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from '../dist/index.js';
import { FC, expectError, shapeArb } from './helpers-struct.js';

const z = (...shape: number[]) => T.zeros(shape);
const zi = (...shape: number[]) => T.zeros(shape, { dtype: 'int32' });

type Case = [string, () => unknown, ...(string | RegExp)[]];

const cases: Case[] = [
  // broadcasting
  ['add shapes', () => T.add(z(2, 3), z(4, 3)), 'add', '[2,3]', '[4,3]'],
  ['sub shapes', () => T.sub(z(2), z(3)), 'sub', '[2]', '[3]'],
  ['mul shapes', () => z(2, 3).mul(z(2)), 'mul', '[2,3]', '[2]'],
  ['div shapes', () => T.div(z(5), z(2, 4)), 'div', '[5]', '[2,4]'],
  ['pow shapes', () => T.pow(z(2), z(3)), 'pow', '[2]', '[3]'],
  ['maximum shapes', () => T.maximum(z(2), z(3)), 'maximum', '[2]', '[3]'],
  ['eq shapes', () => T.eq(z(2), z(3)), 'eq', '[2]', '[3]'],
  ['logicalAnd shapes', () => T.logicalAnd(T.ones([2], { dtype: 'bool' }), T.ones([3], { dtype: 'bool' })), /logical_?and/i, '[2]', '[3]'],
  ['where shapes', () => T.where(T.ones([2], { dtype: 'bool' }), z(3), 0), 'where', '[2]', '[3]'],
  ['where cond dtype', () => T.where(z(2), z(2), z(2)), 'where', 'bool'],
  ['expand', () => z(2, 3).expand([2, 4]), 'expand', '[2,3]', '[2,4]'],
  // dims out of range
  ['sum dim', () => z(2, 3).sum(2), 'sum', '2'],
  ['mean dim', () => z(2, 3).mean(-3), 'mean', '-3'],
  ['amax dim', () => z(2, 3).amax(5), 'amax', '5'],
  ['max dim', () => z(2, 3).max(2), 'max', '2'],
  ['argmax dim', () => z(2, 3).argmax(2), 'argmax', '2'],
  ['softmax dim', () => z(2, 3).softmax(2), 'softmax', '2'],
  ['logSoftmax dim', () => z(2, 3).logSoftmax(-3), 'logSoftmax', '-3'],
  ['cumsum dim', () => z(2, 3).cumsum(2), 'cumsum', '2'],
  ['sort dim', () => z(2, 3).sort(2), 'sort', '2'],
  ['topk k', () => z(2, 3).topk(4), 'topk', '4'],
  ['cat dim', () => T.cat([z(2), z(2)], 1), 'cat', '1'],
  ['stack dim', () => T.stack([z(2), z(2)], 3), 'stack', '3'],
  ['squeeze dim', () => z(2).squeeze(1), 'squeeze', '1'],
  ['unsqueeze dim', () => z(2).unsqueeze(3), 'unsqueeze', '3'],
  ['transpose dim', () => z(2, 3).transpose(0, 2), 'transpose', '2'],
  ['permute dims', () => z(2, 3).permute([0, 2]), 'permute', '2'],
  ['select dim', () => z(2).select(1, 0), 'select', '1'],
  ['narrow dim', () => z(2).narrow(1, 0, 1), 'narrow', '1'],
  ['flip dim', () => z(2).flip([1]), 'flip', '1'],
  ['gather dim', () => T.gather(z(2), 1, zi(2)), 'gather', '1'],
  ['split dim', () => z(2).split(1, 1), 'split', '1'],
  ['chunk dim', () => z(2).chunk(1, 1), 'chunk', '1'],
  ['var dim', () => z(2, 3).var(2), 'var', '2'],
  ['logsumexp dim', () => z(2, 3).logsumexp(2), 'logsumexp', '2'],
  ['non-integer dim', () => z(2, 3).sum(0.5), 'sum', '0.5'],
  ['repeated dims', () => z(2, 3).sum([0, -2]), 'sum'],
  // bad shapes and values
  ['zeros shape', () => T.zeros([2, -1]), '[2,-1]'],
  ['reshape numel', () => z(2, 3).reshape([5]), 'reshape', '[5]', '6'],
  ['view strides', () => z(2, 3).t().view([6]), 'view', '[6]'],
  ['select index', () => z(2, 3).select(1, 3), 'select', '3'],
  ['select 0-d', () => T.tensor(1).select(0, 0), 'select', '0-d'],
  ['narrow 0-d', () => T.tensor(1).narrow(0, 0, 1), 'narrow', '0-d'],
  ['narrow range', () => z(2, 3).narrow(1, 2, 2), 'narrow', '2'],
  ['slice step', () => z(4).slice(0, 0, 4, 0), 'slice', '0'],
  ['item numel', () => z(2).item(), 'item', '[2]'],
  ['size dim', () => z(2).size(1), 'size', '1'],
  ['split sizes', () => z(4).split([1, 2]), 'split', '4'],
  ['pad length', () => T.pad(z(2), [1, 1, 1]), 'pad', '3'],
  ['triu rank', () => z(3).triu(), 'triu', '[3]'],
  ['tensor ragged', () => T.tensor([[1], [2, 3]]), 'tensor', 'ragged'],
  ['tensor shape', () => T.tensor([1, 2, 3], { shape: [2] }), 'tensor', '[2]', '3'],
  ['arange step', () => T.arange(0, 1, 0), 'arange', '0'],
  ['linspace steps', () => T.linspace(0, 1, -3), 'linspace', '-3'],
  ['randint range', () => T.randint(5, 2, [3]), 'randint', '5', '2'],
  ['multinomial count', () => T.multinomial(T.ones([2]), 3), 'multinomial', '3'],
  ['dropout p', () => T.dropout(z(2), 2), 'dropout', '2'],
  // matmul / linear / nn
  ['matmul inner', () => T.matmul(z(2, 3), z(4, 5)), 'matmul', '[2,3]', '[4,5]'],
  ['matmul 0-d', () => T.matmul(T.tensor(1), z(2)), 'matmul', '[]'],
  ['matmul batch', () => T.matmul(z(2, 2, 3), z(3, 3, 4)), 'matmul', '[2,2,3]', '[3,3,4]'],
  ['matmul vector', () => T.matmul(z(3), z(4)), 'matmul', '[3]', '[4]'],
  ['linear in features', () => T.linear(z(2, 3), z(4, 5)), 'linear', '[2,3]', '[4,5]'],
  ['linear bias', () => T.linear(z(2, 3), z(4, 3), z(5)), 'linear', '[5]'],
  ['layerNorm shape', () => T.layerNorm(z(2, 3), [4]), 'layerNorm', '[4]', '[2,3]'],
  ['layerNorm weight', () => T.layerNorm(z(2, 3), [3], z(4)), 'layerNorm', '[4]'],
  ['crossEntropy target range', () => T.crossEntropy(z(2, 3), T.tensor([0, 3], { dtype: 'int32' })), 'crossEntropy', '3'],
  ['crossEntropy target negative', () => T.crossEntropy(z(2, 3), T.tensor([0, -2], { dtype: 'int32' })), 'crossEntropy', '-2'],
  ['crossEntropy target shape', () => T.crossEntropy(z(2, 3), T.tensor([0, 1, 2], { dtype: 'int32' })), 'crossEntropy', '[3]'],
  ['mseLoss shapes', () => T.mseLoss(z(2, 3), z(3, 2)), 'mseLoss', '[2,3]', '[3,2]'],
  ['bce shapes', () => T.binaryCrossEntropyWithLogits(z(2), z(3)), 'binaryCrossEntropyWithLogits', '[2]', '[3]'],
  ['sdpa shapes', () => T.scaledDotProductAttention(z(1, 2, 4), z(1, 3, 5), z(1, 3, 4)), 'scaledDotProductAttention'],
  // indices
  ['gather index', () => T.gather(z(2, 3), 1, T.tensor([[5]], { dtype: 'int32' })), 'gather', '5'],
  ['scatterAdd index', () => T.scatterAdd(z(3), 0, T.tensor([3], { dtype: 'int32' }), T.ones([1])), 'scatterAdd', '3'],
  ['indexSelect index', () => T.indexSelect(z(3, 2), 0, T.tensor([7], { dtype: 'int32' })), 'indexSelect', '7'],
  ['embedding index', () => T.embedding(T.tensor([[1, 9]], { dtype: 'int32' }), z(4, 2)), 'embedding', '9'],
  ['embedding ids dtype', () => T.embedding(T.tensor([1]), z(4, 2)), 'embedding', 'int32'],
  ['gather index dtype', () => T.gather(z(3), 0, T.tensor([1])), 'gather', 'int32'],
  // dtypes and devices
  ['requiresGrad int', () => zi(2).requiresGrad_(), 'requiresGrad', 'int32'],
  ['maskedFill mask dtype', () => z(2).maskedFill(z(2), 1), 'maskedFill', 'bool'],
  ['webgpu not initialized', () => T.zeros([2], { device: 'webgpu' }), 'webgpu'],
  ['to webgpu', () => z(2).to('webgpu'), 'webgpu'],
  ['backward non-scalar', () => T.ones([2], { requiresGrad: true }).mul(2).backward(), 'backward', '[2]'],
];

describe('error messages name the op and the shapes/values', () => {
  for (const [name, fn, ...patterns] of cases) {
    it(name, () => {
      expectError(fn, ...patterns);
    });
  }
});

describe('broadcast errors as a property', () => {
  it('incompatible shapes always throw naming both shapes; compatible ones give the NumPy shape', () => {
    fc.assert(
      fc.property(shapeArb(0, 4), shapeArb(0, 4), (a, b) => {
        const n = Math.max(a.length, b.length);
        let ok = true;
        const out: number[] = [];
        for (let i = 0; i < n; i++) {
          const x = a[a.length - n + i] ?? 1;
          const y = b[b.length - n + i] ?? 1;
          if (x !== y && x !== 1 && y !== 1) ok = false;
          out.push(x === 1 ? y : x);
        }
        const run = () => T.add(T.zeros(a), T.zeros(b));
        if (ok) expect(run().shape).toEqual(out);
        else expectError(run, 'add', `[${a.join(',')}]`, `[${b.join(',')}]`);
      }),
      FC,
    );
  });

  it('dims outside [-rank, rank) always throw naming the op and the dim', () => {
    fc.assert(
      fc.property(shapeArb(1, 4), fc.integer({ min: -8, max: 8 }), (shape, dim) => {
        const x = T.zeros(shape);
        const r = shape.length;
        const ops: [string, () => unknown][] = [
          ['sum', () => x.sum(dim)],
          ['unsqueeze', () => x.unsqueeze(dim)],
          ['flip', () => x.flip(dim)],
          ['transpose', () => x.transpose(dim, 0)],
          ['cat', () => T.cat([x, x], dim)],
        ];
        for (const [op, run] of ops) {
          const rank = op === 'unsqueeze' ? r + 1 : r;
          if (dim >= -rank && dim < rank) run();
          else expectError(run, op, String(dim));
        }
      }),
      FC,
    );
  });
});
