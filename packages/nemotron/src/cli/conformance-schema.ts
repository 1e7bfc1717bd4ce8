// The JSON Schema of a conformance case's case.json, written beside the exported suite (case.schema.json).

/** What case.json holds for one case of the exported suite. */
export interface ConformanceCase {
  schema: 'tensorzoo-conformance-case/1';
  name: string;
  description: string;
  model_class: string;
  method: 'forward' | 'generate' | 'forward+backward' | 'forward+backward (head only)';
  config: string;
  generation_config?: string;
  weights: { files: string[]; storage_dtype: string };
  inputs: { file: string; tensors: Record<string, TensorEntry> };
  arguments: Record<string, unknown>;
  outputs: { file: string; tensors: Record<string, TensorEntry & { tolerance: Tolerance }> };
  checks: string[];
  notes: string[];
  info?: Record<string, unknown>;
}

/** A tensor's file dtype, shape and meaning. */
export interface TensorEntry {
  dtype: string;
  shape: number[];
  description: string;
}

/** |actual - expected| <= atol + rtol |expected|, or exact equality. */
export type Tolerance = { atol: number; rtol: number } | { exact: true };

const tensorEntry = {
  type: 'object',
  required: ['dtype', 'shape', 'description'],
  properties: {
    dtype: { type: 'string', enum: ['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL'] },
    shape: { type: 'array', items: { type: 'integer', minimum: 0 } },
    description: { type: 'string' },
  },
};

/** JSON Schema (draft 2020-12) of case.json. */
export const CASE_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'tensorzoo-conformance-case/1',
  title: 'tensorzoo conformance case',
  description: 'One case of the tensorzoo Nemotron conformance suite: a Hugging Face checkpoint, inputs, the call to make and the expected outputs with their tolerances. File names are relative to the case folder.',
  type: 'object',
  required: ['schema', 'name', 'description', 'model_class', 'method', 'config', 'weights', 'inputs', 'arguments', 'outputs', 'checks', 'notes'],
  additionalProperties: false,
  properties: {
    schema: { const: 'tensorzoo-conformance-case/1' },
    name: { type: 'string', description: 'the case folder name; results keys are <name>/<output>' },
    description: { type: 'string' },
    model_class: { type: 'string', enum: ['NemotronModel', 'NemotronForCausalLM', 'NemotronForSequenceClassification', 'NemotronForTokenClassification', 'NemotronForQuestionAnswering'] },
    method: {
      type: 'string',
      enum: ['forward', 'generate', 'forward+backward', 'forward+backward (head only)'],
      description: 'forward: one forward pass; generate: greedy generation; forward+backward: the loss backpropagated to every parameter (outputs grad.<parameter>); forward+backward (head only): the backbone without gradient, then the head and its loss, gradients of the head and of last_hidden_state',
    },
    config: { type: 'string', description: 'config.json as transformers writes it' },
    generation_config: { type: 'string' },
    weights: {
      type: 'object',
      required: ['files', 'storage_dtype'],
      additionalProperties: false,
      properties: { files: { type: 'array', items: { type: 'string' }, minItems: 1 }, storage_dtype: { type: 'string' } },
    },
    inputs: {
      type: 'object',
      required: ['file', 'tensors'],
      additionalProperties: false,
      properties: {
        file: { type: 'string' },
        tensors: { type: 'object', description: 'forward arguments by Hugging Face name (input_ids, attention_mask, position_ids, labels, ...)', additionalProperties: tensorEntry },
      },
    },
    arguments: { type: 'object', description: 'further keyword arguments of the call (output_hidden_states, max_new_tokens, ...)' },
    outputs: {
      type: 'object',
      required: ['file', 'tensors'],
      additionalProperties: false,
      properties: {
        file: { type: 'string' },
        tensors: {
          type: 'object',
          description: 'expected outputs by name: Hugging Face output fields (hidden_states and attentions stacked on a new first axis) and grad.<parameter>',
          additionalProperties: {
            ...tensorEntry,
            required: [...tensorEntry.required, 'tolerance'],
            properties: {
              ...tensorEntry.properties,
              tolerance: {
                oneOf: [
                  { type: 'object', required: ['atol', 'rtol'], additionalProperties: false, properties: { atol: { type: 'number', minimum: 0 }, rtol: { type: 'number', minimum: 0 } } },
                  { type: 'object', required: ['exact'], additionalProperties: false, properties: { exact: { const: true } } },
                ],
              },
            },
          },
        },
      },
    },
    checks: { type: 'array', items: { type: 'string' } },
    notes: { type: 'array', items: { type: 'string' } },
    info: { type: 'object' },
  },
} as const;
