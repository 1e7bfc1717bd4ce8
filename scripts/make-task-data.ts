// Writes the token-classification and question-answering demo data of `tensorzoo train-head` from the verses already
// in the repository (examples/data/testaments.jsonl and the shipped model's heldout.txt), deterministically:
//   examples/data/divine-names.jsonl  {"tokens": [...], "tags": [...]}: each whitespace-separated word tagged DIVINE
//                                     (God, LORD, Jesus, ...), NAME (another capitalized name) or O;
//   examples/data/who-qa.jsonl        {"context", "question", "answer_start", "answer_text"}: "Who <verb> ...?" over a
//                                     verse where a name does that, the name's span as the answer.
// Usage: npx tsx scripts/make-task-data.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIVINE = new Set(['God', 'GOD', 'LORD', 'Lord', 'Jesus', 'Christ', 'Almighty', 'Jehovah', 'Ghost', 'Spirit', 'Father', 'Son', 'Saviour', 'Redeemer', 'Holy', 'Messiah']);
// capitalized words that are not names (sentence openers, pronouns, interjections)
const NOT_NAMES = new Set(['And', 'But', 'For', 'Then', 'Now', 'So', 'Thus', 'When', 'If', 'O', 'I', 'The', 'Behold', 'Wherefore', 'Therefore',
  'Yea', 'Nay', 'Neither', 'Nor', 'Who', 'What', 'Why', 'How', 'He', 'She', 'They', 'Ye', 'We', 'Thou', 'It', 'This', 'That', 'These', 'Is', 'Let', 'Are',
  'Blessed', 'Woe', 'Surely', 'Verily', 'My', 'Thy', 'His', 'Her', 'Our', 'Their', 'In', 'As', 'All', 'Which', 'Whosoever', 'There', 'Hear', 'Go', 'Be', 'A', 'Of', 'To', 'By', 'After', 'Again', 'Moreover', 'Also', 'Even', 'Lo', 'At', 'Amen', 'Selah', 'Alleluia', 'Hallelujah']);
const VERBS = ['said', 'spake', 'answered', 'begat', 'went', 'came', 'took', 'called', 'saw', 'sent', 'commanded', 'arose', 'rose', 'gave', 'brought', 'built', 'made', 'heard', 'knew', 'told',
  'spoke', 'departed', 'returned', 'slew', 'smote', 'blessed', 'cried', 'lifted', 'sat', 'stood', 'walked', 'wrote', 'died', 'lived', 'reigned',
  'dwelt', 'looked', 'opened', 'turned', 'fell', 'kept', 'hath', 'shall', 'will', 'is', 'was', 'did', 'had', 'loved', 'sware', 'prayed'];

/** mulberry32 with a fixed seed: the same numbers on every platform (Math.random would not be). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(xs: T[], r: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

const verses = [
  ...readFileSync(join(root, 'examples/data/testaments.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { text: string }).text),
  ...readFileSync(join(root, 'models/kjv-nemotron-mini/heldout.txt'), 'utf8').split('\n').filter(Boolean),
];

/** A word's tag: its letters decide (punctuation around it does not); a capital after . ? ! or at the start is a sentence opener. */
function tag(word: string, sentenceStart: boolean): string {
  const core = word.replace(/^[^A-Za-z]+|[^A-Za-z]+$/g, '').replace(/'s$/, '');
  if (DIVINE.has(core)) return 'DIVINE';
  if (/^[A-Z][a-z]+$/.test(core) && !NOT_NAMES.has(core) && !sentenceStart) return 'NAME';
  return 'O';
}

function tagged(verse: string): { tokens: string[]; tags: string[] } {
  const tokens = verse.split(/\s+/).filter(Boolean);
  const tags = tokens.map((w, i) => tag(w, i === 0 || /[.?!]$/.test(tokens[i - 1]!)));
  return { tokens, tags };
}

const r = rng(16);
const tokenRows = shuffle(verses.filter((v) => v.split(/\s+/).length <= 40).map(tagged).filter((t) => t.tags.some((x) => x !== 'O')), r).slice(0, 400);

const qaRows: { context: string; question: string; answer_start: number; answer_text: string }[] = [];
const pattern = new RegExp(`\\b([A-Z][a-z]+) (${VERBS.join('|')}) ([^,;:.?!]+)`, 'g');
for (const context of verses) {
  for (const m of context.matchAll(pattern)) {
    const [, name, verb, rest] = m;
    if (NOT_NAMES.has(name!) || rest!.split(' ').length > 8) continue;
    qaRows.push({ context, question: `Who ${verb} ${rest!.trim()}?`, answer_start: m.index!, answer_text: name! });
    break; // one question per verse
  }
}
shuffle(qaRows, r);

writeFileSync(join(root, 'examples/data/divine-names.jsonl'), tokenRows.map((o) => JSON.stringify(o)).join('\n') + '\n');
writeFileSync(join(root, 'examples/data/who-qa.jsonl'), qaRows.slice(0, 400).map((o) => JSON.stringify(o)).join('\n') + '\n');
console.log(`divine-names.jsonl: ${tokenRows.length} verses; who-qa.jsonl: ${Math.min(400, qaRows.length)} questions`);
