// The generation options beyond greedy/sampling (minNewTokens, noRepeatNgramSize, stopStrings, numReturnSequences,
// beam search): the processors against hand-computed scores, and whole generations on the golden models against a
// float64 reference that recomputes the full sequence at every step (no KV cache) and follows HF's rules literally.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Generator, loadSafetensors, logSoftmax, noGrad } from '@tensorzoo/tensor';
import { BeamHypotheses, changesScores, generate, generationConfigFromDict, generationConfigToDict, minNewTokensLength, NemotronConfig, NemotronForCausalLM, noRepeatNgram, processScores, streamGenerate } from '@tensorzoo/nemotron';
import { FIXTURES } from './nemotron.helpers.js';

const PLAIN = { doSample: false, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 };

describe('logits processors (hand-computed)', () => {
  it('noRepeatNgram bans the tokens that would repeat an n-gram of the row, prompt included', () => {
    const banned = (seen: number[], n: number) => {
      const s = new Float64Array(6);
      noRepeatNgram(s, seen, n);
      return [...s.keys()].filter((i) => s[i] === -Infinity);
    };
    expect(banned([1, 2, 3, 1, 2], 3)).toEqual([3]); // (1, 2) was followed by 3
    expect(banned([1, 2, 3, 1, 2], 2)).toEqual([3]); // (2) was followed by 3
    expect(banned([1, 2, 1, 4, 1], 2)).toEqual([2, 4]);
    expect(banned([5, 2, 5], 1)).toEqual([2, 5]); // unigrams: every seen token
    expect(banned([1, 2], 4)).toEqual([]); // too short to complete a 4-gram
    expect(banned([1, 2, 3], 4)).toEqual([]); // the 4-gram would be the first one
  });

  it('minNewTokens masks every EOS id until enough new tokens follow the prompt', () => {
    const s = Float64Array.from([0.5, 1, 2, 3]);
    minNewTokensLength(s, 2, 3, [1, 3]);
    expect([...s]).toEqual([0.5, -Infinity, 2, -Infinity]);
    const t = Float64Array.from([0.5, 1, 2, 3]);
    minNewTokensLength(t, 3, 3, [1, 3]);
    expect([...t]).toEqual([0.5, 1, 2, 3]);
  });

  it("processScores runs HF's order: repetition penalty, no-repeat n-gram, min new tokens, then the warpers", () => {
    // row [4, 1, 4], prompt of 2: penalty 2 halves the scores of 4 (6 -> 3) and 1 (8 -> 4); the bigram (4, 1) bans 1;
    // EOS 0 is masked (1 new token < 2); top-k 2 then keeps the two best of what is left: 4 (3) and 3 (2), not 2 (1.5)
    const s = Float64Array.from([9, 8, 1.5, 2, 6]);
    processScores(s, [4, 1, 4], { ...PLAIN, doSample: true, topK: 2, repetitionPenalty: 2, noRepeatNgramSize: 2, minNewTokens: 2, promptLength: 2, eosTokenIds: [0] });
    expect([...s]).toEqual([-Infinity, -Infinity, -Infinity, 2, 3]);
  });

  it('changesScores: false only where processScores leaves every score as it is (greedy decoding then reads the logits directly)', () => {
    expect(changesScores(PLAIN)).toBe(false);
    for (const c of [{ doSample: true }, { repetitionPenalty: 1.3 }, { noRepeatNgramSize: 2 }, { minNewTokens: 3 }]) expect(changesScores({ ...PLAIN, ...c })).toBe(true);
    const score = fc.oneof(fc.double({ min: -20, max: 20, noNaN: true }), fc.constant(-Infinity));
    const cfg = fc.record({
      doSample: fc.boolean(), repetitionPenalty: fc.constantFrom(1, 1.3), noRepeatNgramSize: fc.constantFrom(0, 1, 2), minNewTokens: fc.constantFrom(0, 3),
    });
    fc.assert(fc.property(fc.array(score, { minLength: 6, maxLength: 6 }), fc.array(fc.nat(5), { minLength: 1, maxLength: 8 }), cfg, (xs, seen, c) => {
      const settings = { ...PLAIN, ...c, topK: 2, temperature: 0.5, promptLength: seen.length, eosTokenIds: [0] };
      const s = Float64Array.from(xs);
      processScores(s, seen, settings);
      if (!changesScores(settings)) expect([...s]).toEqual(xs);
    }));
  });

  it('top-k and top-p equal a literal transcription of HF (full sorts), ties and -inf included', () => {
    // HF's TopKLogitsWarper / TopPLogitsWarper written out with full sorts of the vocabulary, as the warpers were
    // before they selected the k-th value with a heap and sorted only the finite scores
    const literal = (x: Float64Array, topK: number, topP: number) => {
      const V = x.length;
      if (topK > 0 && topK < V) {
        const kth = Float64Array.from(x).sort()[V - topK]!;
        for (let i = 0; i < V; i++) if (x[i]! < kth) x[i] = -Infinity;
      }
      if (topP < 1) {
        const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => x[a]! - x[b]! || a - b);
        const m = order.reduce((a, i) => Math.max(a, x[i]!), -Infinity);
        const p = order.map((i) => Math.exp(x[i]! - m));
        const z = p.reduce((a, b) => a + b, 0);
        let cum = 0;
        for (let r = 0; r < V - 1; r++) {
          cum += p[r]! / z;
          if (cum <= 1 - topP) x[order[r]!] = -Infinity;
        }
      }
    };
    const score = fc.oneof(fc.integer({ min: -4, max: 4 }).map((v) => v / 2), fc.double({ min: -20, max: 20, noNaN: true }), fc.constant(-Infinity));
    fc.assert(fc.property(fc.array(score, { minLength: 1, maxLength: 60 }), fc.nat(70), fc.double({ min: 0.01, max: 1, noNaN: true }), (xs, topK, topP) => {
      if (!xs.some((v) => v !== -Infinity)) return;
      const ours = Float64Array.from(xs);
      const ref = Float64Array.from(xs);
      processScores(ours, [], { ...PLAIN, doSample: true, topK, topP });
      literal(ref, topK, topP);
      expect([...ours]).toEqual([...ref]);
    }), { numRuns: 300 });
  });

  it("samples over Nemotron's 256,000-token vocabulary (no argument spread of the logits) with top-k, top-p or neither", async () => {
    const config = new NemotronConfig({ vocab_size: 256000, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8 });
    const model = new NemotronForCausalLM(config, { generator: new Generator(3) }).eval();
    for (const o of [{ topK: 0, topP: 1 }, { topK: 40, topP: 0.9 }, { topK: 0, topP: 0.5 }]) {
      const out = await generate(model, [[5, 6, 7]], { doSample: true, temperature: 0.8, maxNewTokens: 3, seed: 1, ...o });
      const row = Array.from(out.dataSync());
      expect(row.slice(0, 3)).toEqual([5, 6, 7]);
      expect(row.length).toBe(6);
      for (const t of row.slice(3)) expect(t >= 0 && t < 256000).toBe(true);
    }
  });

  it("BeamHypotheses keeps the numBeams best length-normalised scores and HF's three stop rules", () => {
    const h = new BeamHypotheses(2, 2, false, 10); // scores: sum / generatedLen^2
    h.add([1], -4, 2); // -1
    h.add([2], -2, 1); // -2
    h.add([3], -9, 3); // -1 beats the worst (-2), which goes
    h.add([4], -1.8, 3); // -0.2: of the two at -1 the earlier goes, as Python's sorted((score, index))
    h.add([5], -10, 3); // -1.1 is not better than the worst kept
    expect(h.beams.map((b) => [b.tokens[0], b.score])).toEqual([[3, -1], [4, -0.2]]);
    expect(h.worstScore).toBe(-1);
    expect(h.isDone(-3, 4, 2)).toBe(false); // the best running beam could still reach -3 / 2^2 = -0.75 > -1
    expect(h.isDone(-8, 4, 2)).toBe(true); // -8 / 2^2 = -2 cannot beat -1
    const never = new BeamHypotheses(2, 2, 'never', 10);
    never.add([1], -4, 2);
    never.add([4], -1.8, 3);
    expect(never.isDone(-8, 4, 2)).toBe(false); // 'never' with lengthPenalty > 0 scores over the longest length: -8 / 8^2
    expect(never.isDone(-80, 4, 2)).toBe(true);
    const eager = new BeamHypotheses(2, 1, true, 10);
    eager.add([1], -4, 2);
    expect(eager.isDone(0, 4, 2)).toBe(false); // not full yet
    eager.add([2], -40, 2);
    expect(eager.isDone(0, 4, 2)).toBe(true);
  });
});

/** The float64 reference: log-probabilities of the next token after `row`, the whole row recomputed (no cache). */
type NextLogProbs = (row: readonly number[]) => Float64Array;

function reference(model: NemotronForCausalLM): NextLogProbs {
  return (row) => noGrad(() => {
    const logits = model.forward({ inputIds: [row as number[]] }).logits;
    return Float64Array.from(logSoftmax(logits.narrow(1, row.length - 1, 1).reshape([-1]), -1).dataSync());
  });
}

const argmax = (s: Float64Array) => s.reduce((best, v, i) => (v > s[best]! ? i : best), 0);

/** Greedy decoding with the row's banned tokens removed, stopping at EOS or after `steps` tokens. */
function greedyReference(next: NextLogProbs, prompt: number[], steps: number, eos: number, ban: (row: number[], s: Float64Array) => void): number[] {
  const row = [...prompt];
  for (let i = 0; i < steps; i++) {
    const s = next(row);
    ban(row, s);
    row.push(argmax(s));
    if (row.at(-1) === eos) break;
  }
  return row;
}

/** HF's beam search, literally: every (beam, token) pair ranked, EOS ones in the top numBeams become hypotheses (v4.56 output). */
function beamReference(next: NextLogProbs, prompt: number[], o: { K: number; steps: number; eos: number[]; pad: number; lp: number; early: boolean | 'never'; n: number }): number[][] {
  const S = prompt.length;
  const maxLength = S + o.steps;
  const hyps: { score: number; tokens: number[]; order: number }[] = [];
  let added = 0;
  const norm = (sum: number, len: number) => sum / len ** o.lp;
  const worst = () => Math.min(...hyps.map((h) => h.score));
  const addHyp = (tokens: number[], sum: number, len: number) => {
    const score = norm(sum, len);
    if (hyps.length < o.K || score > worst()) {
      hyps.push({ score, tokens, order: added++ });
      if (hyps.length > o.K) hyps.splice(hyps.findIndex((h) => h.score === worst()), 1);
    }
  };
  let beams = [{ tokens: [...prompt], sum: 0 }];
  let done = false;
  while (beams[0]!.tokens.length < maxLength && !done) {
    const cands = beams.flatMap((b) => Array.from(next(b.tokens), (lp, t) => ({ tokens: [...b.tokens, t], sum: b.sum + lp, t })));
    cands.sort((a, b) => b.sum - a.sum);
    const curLen = beams[0]!.tokens.length + 1;
    const live: typeof beams = [];
    for (const [rank, c] of cands.entries()) {
      if (o.eos.includes(c.t)) {
        if (rank < o.K) addHyp(c.tokens, c.sum, curLen - S);
      } else if (live.push(c) === o.K) break;
    }
    const bestSum = cands[0]!.sum;
    if (hyps.length >= o.K) {
      if (o.early === true) done = true;
      else {
        const len = o.early === 'never' && o.lp > 0 ? maxLength - S : curLen - S;
        done = Math.min(...hyps.map((h) => h.score)) >= norm(bestSum, len);
      }
    }
    beams = live;
  }
  if (!done) for (const b of beams) addHyp(b.tokens, b.sum, b.tokens.length - S);
  const best = [...hyps].sort((a, b) => b.score - a.score || b.order - a.order).slice(0, o.n).map((h) => h.tokens);
  const width = Math.max(...best.map((h) => h.length));
  return best.map((h) => [...h, ...new Array<number>(width - h.length).fill(o.pad)]);
}

describe('generation options on the golden models, against a float64 full-recompute reference', () => {
  let plain: NemotronForCausalLM; // causal_lm_generate: no EOS on its greedy path
  let withEos: NemotronForCausalLM; // causal_lm_generate_eos: greedy reaches EOS (36) at the 4th token
  let refPlain: NextLogProbs;
  let refEos: NextLogProbs;
  let PROMPT: number[];
  beforeAll(async () => {
    PROMPT = ((await loadSafetensors(join(FIXTURES, 'causal_lm_generate_eos', 'io.safetensors'))).get('input_ids')!.tolist() as number[][])[0]!;
    plain = await NemotronForCausalLM.fromPretrained(join(FIXTURES, 'causal_lm_generate'));
    withEos = await NemotronForCausalLM.fromPretrained(join(FIXTURES, 'causal_lm_generate_eos'));
    refPlain = reference((await NemotronForCausalLM.fromPretrained(join(FIXTURES, 'causal_lm_generate'))).to('float64'));
    refEos = reference((await NemotronForCausalLM.fromPretrained(join(FIXTURES, 'causal_lm_generate_eos'))).to('float64'));
  });

  it('noRepeatNgramSize', async () => {
    const none = greedyReference(refPlain, PROMPT, 24, 3, () => {});
    for (const n of [1, 2, 3]) {
      const ban = (row: number[], s: Float64Array) => {
        const tail = row.slice(row.length - n + 1);
        for (let i = 0; i + n <= row.length; i++) if (row.slice(i, i + n - 1).every((t, k) => t === tail[k])) s[row[i + n - 1]!] = -Infinity;
      };
      const expected = greedyReference(refPlain, PROMPT, 24, 3, ban);
      const got = ((await plain.generate([PROMPT], { maxNewTokens: 24, noRepeatNgramSize: n })).tolist() as number[][])[0]!;
      expect(got).toEqual(expected);
      const grams = expected.slice(0, expected.length - n + 1).map((_, i) => expected.slice(i, i + n).join(','));
      expect(new Set(grams).size).toBe(grams.length); // no n-gram twice
    }
    const grams2 = none.slice(0, -1).map((_, i) => none.slice(i, i + 2).join(','));
    expect(new Set(grams2).size).toBeLessThan(grams2.length); // without it the path repeats a bigram: the option changed something
  });

  it('minNewTokens', async () => {
    const eos = 36;
    const free = ((await withEos.generate([PROMPT], { maxNewTokens: 8 })).tolist() as number[][])[0]!;
    expect(free.at(-1)).toBe(eos);
    const stopAt = free.length - PROMPT.length;
    for (const min of [stopAt + 1, stopAt + 3]) {
      const expected = greedyReference(refEos, PROMPT, 12, eos, (row, s) => {
        if (row.length - PROMPT.length < min) s[eos] = -Infinity;
      });
      const got = ((await withEos.generate([PROMPT], { maxNewTokens: 12, minNewTokens: min })).tolist() as number[][])[0]!;
      expect(got).toEqual(expected);
      const at = got.indexOf(eos);
      expect(at === -1 || at >= PROMPT.length + min).toBe(true);
      expect(got).not.toEqual(free); // the EOS it would have ended with was held back
    }
  });
});

describe('stopStrings, numReturnSequences and beam search on the golden models', () => {
  let plain: NemotronForCausalLM;
  let withEos: NemotronForCausalLM;
  let refPlain: NextLogProbs;
  let refEos: NextLogProbs;
  let PROMPT: number[];
  /** A decoder that writes every id as <id>: the text of a row is known by hand. */
  const tokenizer = { decode: (ids: readonly number[]) => ids.map((i) => `<${i}>`).join('') };
  beforeAll(async () => {
    PROMPT = ((await loadSafetensors(join(FIXTURES, 'causal_lm_generate', 'io.safetensors'))).get('input_ids')!.tolist() as number[][])[0]!;
    plain = await NemotronForCausalLM.fromPretrained(join(FIXTURES, 'causal_lm_generate'));
    withEos = await NemotronForCausalLM.fromPretrained(join(FIXTURES, 'causal_lm_generate_eos'));
    refPlain = reference((await NemotronForCausalLM.fromPretrained(join(FIXTURES, 'causal_lm_generate'))).to('float64'));
    refEos = reference((await NemotronForCausalLM.fromPretrained(join(FIXTURES, 'causal_lm_generate_eos'))).to('float64'));
  });

  it('stopStrings end a row right after the text ends with one (the prompt does not count before a new token)', async () => {
    const full = ((await plain.generate([PROMPT], { maxNewTokens: 8 })).tolist() as number[][])[0]!;
    const fresh = full.slice(PROMPT.length);
    const at = fresh.findIndex((t, i) => fresh.indexOf(t) === i && i >= 2); // a token first seen at new position >= 2
    const stop = `<${fresh[at - 1]}><${fresh[at]}>`; // spans two tokens
    const got = ((await plain.generate([PROMPT], { maxNewTokens: 8, stopStrings: [stop, '<never>'], tokenizer })).tolist() as number[][])[0]!;
    expect(got).toEqual(full.slice(0, PROMPT.length + at + 1));
    await expect(plain.generate([PROMPT], { maxNewTokens: 2, stopStrings: 'x' })).rejects.toThrow(/stopStrings need the tokenizer/);
    await expect(plain.generate([PROMPT], { maxNewTokens: 2, stopStrings: [''], tokenizer })).rejects.toThrow(/non-empty strings/);
  });

  it('numReturnSequences draws independent samples: the same as the prompt repeated in a batch', async () => {
    const opts = { maxNewTokens: 6, doSample: true, topK: 0, seed: 7 };
    const three = (await plain.generate([PROMPT], { ...opts, numReturnSequences: 3 })).tolist() as number[][];
    const batch = (await plain.generate([PROMPT, PROMPT, PROMPT], opts)).tolist() as number[][];
    expect(three).toEqual(batch);
    expect(new Set(three.map((r) => r.join(','))).size).toBeGreaterThan(1);
    await expect(plain.generate([PROMPT], { maxNewTokens: 2, numReturnSequences: 2 })).rejects.toThrow(/needs doSample or numBeams > 1/);
    const steps: number[][] = [];
    for await (const s of streamGenerate(plain, [PROMPT], { ...opts, numReturnSequences: 2 })) steps.push(s.tokens);
    expect(steps.map((t) => t.length)).toEqual(steps.map(() => 2));
  });

  const HALF = Array.from({ length: 20 }, (_, i) => 20 + i); // EOS candidates outnumber the live ones at every step
  const beamCases = [
    { K: 2, steps: 6, lp: 1, early: false as const, n: 1 },
    { K: 3, steps: 8, lp: 1, early: true as const, n: 3 },
    { K: 3, steps: 8, lp: 2, early: 'never' as const, n: 2 },
    { K: 4, steps: 7, lp: -1, early: false as const, n: 4 },
    { K: 2, steps: 8, lp: 0, early: 'never' as const, n: 2 },
  ];
  for (const c of beamCases) {
    it(`beam search numBeams ${c.K}, lengthPenalty ${c.lp}, earlyStopping ${c.early}, ${c.n} returned: equals the reference`, async () => {
      // the checkpoints' own EOS ids, and frequent tokens made EOS so that many hypotheses finish early
      for (const [model, next, eos] of [[withEos, refEos, [36]], [plain, refPlain, [3]], [withEos, refEos, [21]], [plain, refPlain, [21, 8, 35]], [withEos, refEos, HALF], [plain, refPlain, HALF]] as const) {
        const expected = beamReference(next, PROMPT, { ...c, eos: [...eos], pad: 0 });
        const got = await generate(model, [PROMPT], {
          maxNewTokens: c.steps, numBeams: c.K, lengthPenalty: c.lp, earlyStopping: c.early, numReturnSequences: c.n, eosTokenId: [...eos], padTokenId: 0,
        });
        expect(got.tolist()).toEqual(expected);
      }
    });
  }

  it('beam search over a left-padded batch gives each prompt what it gives alone', async () => {
    const short = PROMPT.slice(2);
    const opts = { maxNewTokens: 6, numBeams: 3, numReturnSequences: 2 };
    const batch = (await withEos.generate([PROMPT, [0, 0, ...short]], { ...opts, attentionMask: [PROMPT.map(() => 1), [0, 0, ...short.map(() => 1)]] })).tolist() as number[][];
    const strip = (r: number[], lead: number) => r.slice(lead).join(',').replace(/(,0)+$/, '');
    const alone = [...((await withEos.generate([PROMPT], opts)).tolist() as number[][]), ...((await withEos.generate([short], opts)).tolist() as number[][])];
    expect(batch.map((r, i) => strip(r, i < 2 ? 0 : 2))).toEqual(alone.map((r) => strip(r, 0)));
    expect(batch.length).toBe(4);
  });

  it("reads the options from generation_config.json's keys (the call overrides them)", async () => {
    const cfg = generationConfigFromDict({ num_beams: 3, length_penalty: 2, early_stopping: 'never', num_return_sequences: 2, no_repeat_ngram_size: 2, min_new_tokens: 4, eos_token_id: 21, pad_token_id: 0 });
    expect(cfg).toMatchObject({ numBeams: 3, lengthPenalty: 2, earlyStopping: 'never', numReturnSequences: 2, noRepeatNgramSize: 2, minNewTokens: 4 });
    expect(generationConfigToDict(cfg)).toMatchObject({ num_beams: 3, early_stopping: 'never', no_repeat_ngram_size: 2, min_new_tokens: 4 });
    const configured = await NemotronForCausalLM.fromPretrained(join(FIXTURES, 'causal_lm_generate_eos'));
    configured.generationConfig = cfg;
    const explicit = { numBeams: 3, lengthPenalty: 2, earlyStopping: 'never' as const, numReturnSequences: 2, noRepeatNgramSize: 2, minNewTokens: 4, eosTokenId: 21, padTokenId: 0 };
    expect((await configured.generate([PROMPT], { maxNewTokens: 6 })).tolist()).toEqual((await withEos.generate([PROMPT], { maxNewTokens: 6, ...explicit })).tolist());
    expect((await configured.generate([PROMPT], { maxNewTokens: 6, numBeams: 1, numReturnSequences: 1 })).tolist())
      .toEqual((await withEos.generate([PROMPT], { maxNewTokens: 6, ...explicit, numBeams: 1, numReturnSequences: 1 })).tolist());
  });

  it('beam search errors name the setting', async () => {
    await expect(generate(plain, [PROMPT], { numBeams: 2, numReturnSequences: 3, maxNewTokens: 2 })).rejects.toThrow(/numReturnSequences must be an integer in \[1, numBeams = 2\]/);
    await expect(generate(plain, [PROMPT], { numBeams: 2, doSample: true, maxNewTokens: 2 })).rejects.toThrow(/beam sampling/);
    await expect(generate(plain, [PROMPT], { numBeams: 2.5, maxNewTokens: 2 })).rejects.toThrow(/numBeams must be an integer >= 2/);
    const s = streamGenerate(plain, [PROMPT], { numBeams: 2 });
    await expect(s.next()).rejects.toThrow(/call generate\(\), not streamGenerate/);
  });
});
