// pipeline(task, folder) on tiny golden models with a character-level tokenizer: transformers' output shapes, and
// scores against float64 references computed here from the same checkpoints.
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { noGrad } from '@tensorzoo/tensor';
import {
  NemotronForCausalLM, NemotronForQuestionAnswering, NemotronForSequenceClassification, NemotronForTokenClassification, pipeline,
} from '@tensorzoo/nemotron';
import { writeTinyChatModel } from './chat.helpers.js';
import { FIXTURES } from './nemotron.helpers.js';

const dirs: string[] = [];
/** A golden checkpoint of `fixture` with the tiny tokenizer (and the Nemotron chat template). */
function folder(fixture: string, config: Record<string, unknown> = {}): string {
  const d = writeTinyChatModel(undefined, 'causal_lm_generate');
  writeFileSync(join(d, 'config.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(FIXTURES, fixture, 'config.json'), 'utf8')), ...config }));
  copyFileSync(join(FIXTURES, fixture, 'model.safetensors'), join(d, 'model.safetensors'));
  if (!fixture.startsWith('causal_lm')) rmSync(join(d, 'generation_config.json'));
  dirs.push(d);
  return d;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const softmax = (x: number[]) => {
  const m = Math.max(...x);
  const e = x.map((v) => Math.exp(v - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
};
const ids = (text: string) => [...text.replace(/ /g, '\u2581')].map((ch) => 6 + ['\n', '\u2581', ...'abcdefghijklmnopqrstuvwxyz', 'S', 'U', 'A', '.', '?', '!'].indexOf(ch));

describe('pipeline()', () => {
  let tg: string;
  beforeAll(() => {
    tg = folder('causal_lm_generate');
  });

  it("text-generation: [{ generated_text }] = the prompt and its greedy continuation; chats get the assistant's reply", async () => {
    const gen = await pipeline('text-generation', tg);
    expect(gen.task).toBe('text-generation');
    const model = await NemotronForCausalLM.fromPretrained(tg);
    const prompt = 'the cat sat';
    const row = ((await model.generate([ids(prompt)], { maxNewTokens: 6 })).tolist() as number[][])[0]!;
    const continuation = gen.tokenizer.decode(row.slice(ids(prompt).length), { skipSpecialTokens: true });
    expect(await gen(prompt, { maxNewTokens: 6 })).toEqual([{ generated_text: prompt + continuation }]);
    expect(await gen(prompt, { maxNewTokens: 6, returnFullText: false })).toEqual([{ generated_text: continuation }]);
    const two = await gen(prompt, { maxNewTokens: 4, doSample: true, numReturnSequences: 2, seed: 3 });
    expect(two).toHaveLength(2);
    expect((two[0]!.generated_text as string).startsWith(prompt)).toBe(true);

    const messages = [{ role: 'user', content: 'hi' }];
    const chatIds = gen.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true });
    const reply = ((await model.generate([chatIds], { maxNewTokens: 5 })).tolist() as number[][])[0]!;
    const [out] = await gen(messages, { maxNewTokens: 5 });
    expect(out!.generated_text).toEqual([...messages, { role: 'assistant', content: gen.tokenizer.decode(reply.slice(chatIds.length), { skipSpecialTokens: true }) }]);
  });

  it('text-classification: the softmax of the pooled logits (sigmoid for multi-label and single outputs), best first', async () => {
    const cases = [
      ['seq_cls_single_label', {}, 'softmax'], ['seq_cls_multi_label', {}, 'softmax'],
      ['seq_cls_multi_label', { problem_type: 'multi_label_classification' }, 'sigmoid'], ['seq_cls_regression', {}, 'sigmoid'],
    ] as const;
    for (const [fixture, config, fn] of cases) {
      const d = folder(fixture, config);
      const clf = await pipeline('text-classification', d);
      const ref = (await NemotronForSequenceClassification.fromPretrained(d)).to('float64');
      const logits = noGrad(() => Array.from(ref.forward({ inputIds: [ids('a fine day')] }).logits.dataSync()));
      const p = fn === 'softmax' ? softmax(logits) : logits.map((v) => 1 / (1 + Math.exp(-v)));
      const expected = p.map((score, i) => ({ label: `LABEL_${i}`, score })).sort((a, b) => b.score - a.score);
      const all = await clf('a fine day', { topK: null });
      expect(all.map((r) => r.label)).toEqual(expected.map((r) => r.label));
      all.forEach((r, i) => expect(r.score).toBeCloseTo(expected[i]!.score, 5));
      expect(await clf('a fine day')).toEqual([all[0]]);
    }
  });

  it('token-classification: one entity per non-special token with its best label, ignoreLabels left out', async () => {
    const d = folder('token_classification');
    const ner = await pipeline('token-classification', d);
    const ref = (await NemotronForTokenClassification.fromPretrained(d)).to('float64');
    const text = 'bob ate';
    const logits = noGrad(() => ref.forward({ inputIds: [ids(text)] }).logits.tolist() as number[][][])[0]!;
    const expected = logits.map((l, index) => {
      const p = softmax(l);
      const best = p.indexOf(Math.max(...p));
      return { entity: `LABEL_${best}`, score: p[best]!, index, word: [...text.replace(/ /g, '\u2581')][index]! };
    });
    const got = await ner(text, { ignoreLabels: [] });
    expect(got.map(({ score, ...r }) => r)).toEqual(expected.map(({ score, ...r }) => r));
    got.forEach((r, i) => expect(r.score).toBeCloseTo(expected[i]!.score, 5));
    const dropped = expected[0]!.entity;
    expect(await ner(text, { ignoreLabels: [dropped] })).toEqual(got.filter((r) => r.entity !== dropped));
  });

  it('question-answering: the span of the context maximising p(start) p(end), with its character offsets', async () => {
    const d = folder('question_answering');
    const qa = await pipeline('question-answering', d);
    const ref = (await NemotronForQuestionAnswering.fromPretrained(d)).to('float64');
    const question = 'who?';
    const context = 'a cat and a dog';
    const q = ids(question);
    const c = ids(context);
    const out = noGrad(() => ref.forward({ inputIds: [[...q, ...c]] }));
    const ps = softmax((out.startLogits.tolist() as number[][])[0]!.slice(q.length));
    const pe = softmax((out.endLogits.tolist() as number[][])[0]!.slice(q.length));
    let best = { s: 0, e: 0, p: -1 };
    for (let s = 0; s < c.length; s++) for (let e = s; e < Math.min(c.length, s + 15); e++) if (ps[s]! * pe[e]! > best.p) best = { s, e, p: ps[s]! * pe[e]! };
    let start = best.s;
    while (start <= best.e && context[start] === ' ') start++; // one character per token here
    const got = await qa(question, context);
    expect({ ...got, score: 0 }).toEqual({ answer: context.slice(start, best.e + 1), score: 0, start, end: best.e + 1 });
    expect(got.score).toBeCloseTo(best.p, 6);
    const short = await qa(question, context, { maxAnswerLen: 1 });
    expect(short.end - short.start).toBeLessThanOrEqual(1);
  });

  it('rejects an unknown task and a folder without the head', async () => {
    await expect(pipeline('summarization' as 'text-generation', tg)).rejects.toThrow(/unknown task 'summarization'; tasks: text-generation/);
  });
});
