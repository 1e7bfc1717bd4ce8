// Chat templates as transformers' apply_chat_template renders them: tokenizer_config.json's `chat_template` (a Jinja
// string, or a list of named templates) run by @huggingface/jinja, the engine transformers.js uses, with the
// tokenizer's special tokens and `add_generation_prompt` in the template's context.
import { Template } from '@huggingface/jinja';

/** One message of a conversation. */
export interface ChatMessage {
  role: string;
  content: string;
}

/** Options of applyChatTemplate (transformers' keyword names in camelCase). */
export interface ChatTemplateOptions {
  /** End with the tokens that start an assistant turn (default false). */
  addGenerationPrompt?: boolean;
  /** Return ids instead of the rendered text (default true, as transformers). */
  tokenize?: boolean;
  /** A template, or the name of one of the tokenizer's named templates, instead of its default. */
  chatTemplate?: string;
  /** Extra variables for the template (transformers' **kwargs). */
  templateVars?: Record<string, unknown>;
}

/** A chat_template value of tokenizer_config.json: one template, or named ones ({ name, template }). */
export type ChatTemplates = string | Readonly<Record<string, string>>;

/** Reads tokenizer_config.json's chat_template (a string or a list of { name, template }); null when absent. */
export function chatTemplatesFromConfig(value: unknown): ChatTemplates | null {
  if (typeof value === 'string') return value;
  if (!Array.isArray(value)) return null;
  const named: Record<string, string> = {};
  for (const t of value as { name?: unknown; template?: unknown }[]) {
    if (typeof t?.name === 'string' && typeof t.template === 'string') named[t.name] = t.template;
  }
  return Object.keys(named).length ? named : null;
}

/** Picks the template to render, as transformers' get_chat_template: an explicit one, a named one, or 'default'. */
export function selectChatTemplate(templates: ChatTemplates | null, chosen?: string): string {
  if (typeof templates === 'object' && templates !== null) {
    if (chosen !== undefined) return templates[chosen] ?? chosen;
    const t = templates['default'];
    if (t === undefined) throw new Error(`applyChatTemplate: the tokenizer has named chat templates (${Object.keys(templates).join(', ')}) and none is 'default'; pass chatTemplate`);
    return t;
  }
  const t = chosen ?? templates;
  if (t == null) throw new Error('applyChatTemplate: the tokenizer has no chat_template (tokenizer_config.json) and none was passed as chatTemplate');
  return t;
}

/** Renders a chat template with `messages`, `add_generation_prompt` and the given special tokens in its context. */
export function renderChatTemplate(template: string, messages: readonly ChatMessage[], addGenerationPrompt: boolean, context: Record<string, unknown>): string {
  for (const [i, m] of messages.entries()) {
    if (typeof m?.role !== 'string' || typeof m.content !== 'string') throw new Error(`applyChatTemplate: messages[${i}] must be { role: string, content: string }`);
  }
  return new Template(template).render({ ...context, messages, add_generation_prompt: addGenerationPrompt });
}
