// Generation in a dedicated module Worker: the page's main thread runs no kernel at all and only posts requests.
// The worker loads model and tokenizer once (the Cache API works here too) and streams tokens back. In a worker the
// CPU pool blocks with Atomics.wait instead of spinning, and starts its own threads when the page is cross-origin
// isolated. Bundled beside main.js as dist/worker.js; start it with new Worker(url, { type: 'module' }).
import { AutoTokenizer, NemotronForCausalLM, TextStream } from '@tensorzoo/nemotron';
import { startThreads } from '@tensorzoo/tensor';

/** What the page posts: a model folder URL (absolute: relative ones would resolve against the worker's own URL). */
export interface WorkerRequest {
  model: string;
  prompt: string;
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature: number;
  cache?: boolean;
}

/** What the worker posts back: each token as it comes, then the whole result (or an error). */
export type WorkerReply =
  | { type: 'token'; id: number; text: string }
  | { type: 'done'; ids: number[]; threads: number; tokensPerSecond: number }
  | { type: 'error'; message: string };

let loaded: { url: string; ready: Promise<[NemotronForCausalLM, Awaited<ReturnType<typeof AutoTokenizer.fromPretrained>>, number]> } | null = null;

function load(req: WorkerRequest) {
  if (loaded?.url !== req.model) {
    const opts = { cache: req.cache };
    loaded = { url: req.model, ready: Promise.all([NemotronForCausalLM.fromPretrained(req.model, opts), AutoTokenizer.fromPretrained(req.model, opts), startThreads()]) };
  }
  return loaded.ready;
}

const post = (m: WorkerReply) => (self as unknown as { postMessage(m: WorkerReply): void }).postMessage(m);

async function generate(req: WorkerRequest): Promise<void> {
  const [model, tokenizer, threads] = await load(req);
  const prompt = tokenizer.encode(req.prompt);
  // the text each token adds, decoded from a window of a few ids (decoding everything each time is O(n^2))
  const stream = new TextStream({ decode: (x) => tokenizer.decode(x, { skipSpecialTokens: true }) }, prompt);
  let shown = '';
  const ids: number[] = [];
  const sample = req.temperature > 0;
  let first = 0;
  for await (const step of model.stream([prompt], { maxNewTokens: req.maxNewTokens, doSample: sample, temperature: sample ? req.temperature : 1 })) {
    if (first === 0) first = performance.now();
    ids.push(step.tokens[0]!);
    shown += stream.push(step.tokens[0]!) + (step.stoppedBy ? stream.end() : ''); // the last step flushes a held-back byte
    post({ type: 'token', id: step.tokens[0]!, text: shown });
    if (step.finished[0]) break;
  }
  const tokensPerSecond = ids.length > 1 ? ((ids.length - 1) * 1000) / (performance.now() - first) : 0;
  post({ type: 'done', ids, threads, tokensPerSecond });
}

// One request at a time, in arrival order (the model's cache is shared).
let queue: Promise<void> = Promise.resolve();
self.addEventListener('message', (e: MessageEvent<WorkerRequest>) => {
  queue = queue.then(() => generate(e.data)).catch((err: Error) => post({ type: 'error', message: err.message }));
});
