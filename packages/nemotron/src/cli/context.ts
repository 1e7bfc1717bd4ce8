// The model's context limit (max_position_embeddings): inputs longer than it are an error naming both numbers,
// unless --truncate says which end to keep.
import { UsageError, type OptionSpec } from './args.js';

/** The config field that holds the context limit. */
export const CONTEXT = 'max_position_embeddings';

/** Which end of a too-long input --truncate drops: 'left' keeps the end, 'right' keeps the start. */
export type Truncate = 'left' | 'right';

/** The --truncate option of the commands that read free text. */
export const TRUNCATE: OptionSpec = {
  type: 'string', arg: 'left|right', choices: ['left', 'right'],
  help: 'when the input does not fit the context, drop tokens from this end (default: an error)',
};

/** Keeps `keep` tokens of `ids` from the given end; a leading BOS stays in front when the left end is cut. */
export function truncateIds(ids: readonly number[], keep: number, side: Truncate, bos: number | null): number[] {
  if (ids.length <= keep) return [...ids];
  if (side === 'right') return ids.slice(0, keep);
  return bos !== null && ids[0] === bos && keep > 1 ? [bos, ...ids.slice(ids.length - keep + 1)] : ids.slice(ids.length - keep);
}

/**
 * A generation prompt that leaves room for at least one new token. A prompt that fills the context is an error,
 * or with --truncate is cut to leave room for `wanted` new tokens (at most half the context).
 */
export function fitPrompt(command: string, ids: readonly number[], limit: number, wanted: number, side: Truncate | undefined, bos: number | null): number[] {
  if (ids.length < limit) return [...ids];
  if (!side) {
    throw new UsageError(`${command}: the prompt is ${ids.length} tokens, the model's context is ${limit} positions (${CONTEXT}) and must leave room for a new token; shorten it or pass --truncate left|right`);
  }
  const keep = limit - Math.min(wanted, Math.floor(limit / 2));
  process.stderr.write(`${command}: prompt cut from ${ids.length} to ${keep} tokens (--truncate ${side}; context ${limit} positions)\n`);
  return truncateIds(ids, keep, side, bos);
}

/** An input to encode whole (classification): at most `limit` tokens, or cut with --truncate. */
export function fitText(command: string, ids: readonly number[], limit: number, side: Truncate | undefined, bos: number | null, where: string): number[] {
  if (ids.length <= limit) return [...ids];
  if (!side) throw new UsageError(`${command}: ${where} is ${ids.length} tokens, longer than the model's context of ${limit} positions (${CONTEXT}); shorten it or pass --truncate left|right`);
  return truncateIds(ids, limit, side, bos);
}
