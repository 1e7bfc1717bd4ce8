// `pnpm demo`: a two-minute tour on data that ships with the repository: autograd, a trained classifier,
// the SentencePiece tokenizer, and a Hugging Face Nemotron checkpoint generating with a KV cache.
import { argmax, crossEntropy, eq, Generator, matmul, randn, tensor } from '@tensorzoo/tensor';
import { AdamW, Linear, ReLU, Sequential } from '@tensorzoo/nn';
import { SentencePieceTokenizer } from '@tensorzoo/tokenizer';
import { NemotronForCausalLM } from '@tensorzoo/nemotron';

console.log('1. autograd: d/dx sum(x^3) = 3x^2');
const x = tensor([1, 2, 3], { requiresGrad: true });
x.pow(3).sum().backward();
console.log('   x.grad =', x.grad!.tolist());

console.log('2. an MLP learns XOR-like quadrants with AdamW');
const g = new Generator(0);
const pts = randn([512, 2], { generator: g });
const labels = pts.select(1, 0).mul(pts.select(1, 1)).gt(0).int();
const mlp = new Sequential(new Linear(2, 32, { generator: g }), new ReLU(), new Linear(32, 2, { generator: g }));
const opt = new AdamW(mlp.parameters(), { lr: 0.03 });
for (let step = 0; step <= 200; step++) {
  opt.zeroGrad();
  const loss = crossEntropy(mlp.forward(pts), labels);
  loss.backward();
  opt.step();
  if (step % 50 === 0) process.stdout.write(`   step ${step}: loss ${loss.item().toFixed(3)}\n`);
}
console.log('   accuracy', eq(argmax(mlp.forward(pts), -1), labels).float().mean().item().toFixed(3));

console.log('3. SentencePiece BPE (byte fallback, split digits), id for id with the reference library');
const sp = await SentencePieceTokenizer.fromFile('test/fixtures/sentencepiece/nemotron_like_bpe.model');
const ids = sp.encode('Tensors in 2026: naïve → exact.');
console.log('   pieces:', sp.encodeAsPieces('Tensors in 2026: naïve → exact.').join(' '));
console.log('   decode(encode(s)):', sp.decode(ids));

console.log('4. a Hugging Face Nemotron checkpoint (tiny, random weights, GQA) generating greedily with a KV cache');
const model = await NemotronForCausalLM.fromPretrained('test/fixtures/nemotron/gqa');
const out = await model.generate([[5, 9, 13, 2]], { maxNewTokens: 8, onToken: (t) => process.stdout.write(` ${t[0]}`) });
console.log('\n   sequence:', (out.tolist() as number[][])[0]!.join(' '));

console.log('5. a 1024^3 float32 matmul on the WebAssembly SIMD kernels');
const a = randn([1024, 1024], { generator: g });
matmul(a, a);
const t0 = performance.now();
matmul(a, a);
console.log(`   ${(2 * 1024 ** 3 / ((performance.now() - t0) / 1000) / 1e9).toFixed(1)} GFLOP/s`);
