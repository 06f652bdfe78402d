/**
 * Tokenizers behind one interface: Hugging Face `tokenizer.json` (through @huggingface/tokenizers) with chat
 * templates from `tokenizer_config.json` (through @huggingface/jinja), and a character tokenizer for the built-in
 * tiny preset.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';

export interface ChatMessage {
  role: string;
  content: string;
}

export interface TextTokenizer {
  readonly vocabSize: number;
  /** Token that ends a completion; null when the tokenizer has none. */
  readonly eosTokenId: number | null;
  /** Token used to fill padded positions (never attended to, never scored). */
  readonly padTokenId: number;
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  /** Renders a conversation into the prompt text the model was trained on. */
  applyChatTemplate(messages: ChatMessage[], options?: { addGenerationPrompt?: boolean }): string;
  /** Writes the tokenizer files into a checkpoint folder. */
  save(dir: string): void;
}

type Json = Record<string, unknown>;

/** A `tokenizer.json` tokenizer (BPE, WordPiece, Unigram …) with the special tokens of `tokenizer_config.json`. */
export class HfTokenizer implements TextTokenizer {
  readonly vocabSize: number;
  readonly eosTokenId: number | null;
  readonly padTokenId: number;
  private readonly tokenizer: Tokenizer;
  private readonly template: Template | null;

  constructor(
    private readonly tokenizerJson: Json,
    private readonly tokenizerConfig: Json,
    /** The folder the files came from, for error messages. */
    private readonly folder = 'tokenizer',
  ) {
    this.tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
    this.vocabSize = this.tokenizer.get_vocab(true).size;
    this.eosTokenId = this.specialId('eos_token');
    this.padTokenId = this.specialId('pad_token') ?? this.eosTokenId ?? 0;
    const source = chatTemplateSource(tokenizerConfig.chat_template);
    this.template = source === null ? null : new Template(source);
  }

  static fromDirectory(dir: string): HfTokenizer {
    const jsonFile = path.join(dir, 'tokenizer.json');
    const configFile = path.join(dir, 'tokenizer_config.json');
    if (!fs.existsSync(jsonFile)) throw new Error(`${dir}: no tokenizer.json`);
    const config = fs.existsSync(configFile) ? readJson(configFile) : {};
    return new HfTokenizer(readJson(jsonFile), config, dir);
  }

  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: options.addSpecialTokens ?? false }).ids;
  }

  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    // The library rejects an empty list; an empty completion is ordinary here.
    if (ids.length === 0) return '';
    return this.tokenizer.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? false });
  }

  applyChatTemplate(messages: ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): string {
    if (!this.template) {
      throw new Error(`${path.join(this.folder, 'tokenizer_config.json')} has no chat_template: this model has no chat format; give plain-text prompts`);
    }
    return this.template.render({
      messages,
      add_generation_prompt: options.addGenerationPrompt ?? true,
      bos_token: tokenText(this.tokenizerConfig.bos_token) ?? '',
      eos_token: tokenText(this.tokenizerConfig.eos_token) ?? '',
    });
  }

  save(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(this.tokenizerJson));
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(this.tokenizerConfig, null, 2));
  }

  private specialId(field: string): number | null {
    const text = tokenText(this.tokenizerConfig[field]);
    if (text === null) return null;
    const id = this.tokenizer.token_to_id(text);
    if (id === undefined) throw new Error(`tokenizer_config.json: field '${field}' is '${text}', which is not in the vocabulary`);
    return id;
  }
}

/** Characters of a fixed alphabet, one token each, after two special tokens: 0 = `<pad>`, 1 = `<eos>`. */
export class CharTokenizer implements TextTokenizer {
  static readonly FILE = 'char_tokenizer.json';
  static readonly SPECIALS = ['<pad>', '<eos>'];
  readonly padTokenId = 0;
  readonly eosTokenId = 1;
  readonly vocabSize: number;
  private readonly ids = new Map<string, number>();

  constructor(readonly alphabet: string) {
    const chars = [...alphabet];
    if (new Set(chars).size !== chars.length) throw new Error('char tokenizer: the alphabet repeats a character');
    chars.forEach((ch, i) => this.ids.set(ch, i + CharTokenizer.SPECIALS.length));
    this.vocabSize = chars.length + CharTokenizer.SPECIALS.length;
  }

  static fromDirectory(dir: string): CharTokenizer {
    const file = path.join(dir, CharTokenizer.FILE);
    const json = readJson(file);
    if (typeof json.alphabet !== 'string') throw new Error(`${file}: field 'alphabet' must be a string`);
    return new CharTokenizer(json.alphabet);
  }

  encode(text: string): number[] {
    return [...text].map((ch) => {
      const id = this.ids.get(ch);
      if (id === undefined) throw new Error(`char tokenizer: character ${JSON.stringify(ch)} is not in the alphabet`);
      return id;
    });
  }

  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    const chars = [...this.alphabet];
    const specials = CharTokenizer.SPECIALS;
    return ids
      .filter((id) => !(options.skipSpecialTokens && id < specials.length))
      .map((id) => (id < specials.length ? specials[id] : chars[id - specials.length] ?? ''))
      .join('');
  }

  /** No chat format of its own: the contents are joined, as a plain-text prompt. */
  applyChatTemplate(messages: ChatMessage[]): string {
    return messages.map((m) => m.content).join('\n');
  }

  save(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, CharTokenizer.FILE), JSON.stringify({ type: 'char', alphabet: this.alphabet }, null, 2));
  }
}

/** A prompt as a dataset gives it: plain text, or a conversation for the chat template. */
export type PromptSource = string | ChatMessage[];

/** The text the model reads: plain text as it is, a conversation through the chat template (generation prompt on). */
export function renderPrompt(tokenizer: TextTokenizer, prompt: PromptSource): string {
  return typeof prompt === 'string' ? prompt : tokenizer.applyChatTemplate(prompt, { addGenerationPrompt: true });
}

/**
 * A prompt's token ids, encoded the way the model was trained. Plain text gets the tokenizer's own special tokens
 * (its `post_processor`: BOS for Llama / SentencePiece tokenizers, nothing for GPT-2). A chat template writes its
 * own special tokens (`{{ bos_token }}`, headers), so its text is encoded without adding them a second time, as
 * transformers' `apply_chat_template(tokenize=True)` does.
 */
export function encodePrompt(tokenizer: TextTokenizer, prompt: PromptSource): number[] {
  if (typeof prompt === 'string') return tokenizer.encode(prompt, { addSpecialTokens: true });
  return tokenizer.encode(renderPrompt(tokenizer, prompt), { addSpecialTokens: false });
}

/**
 * The text each token adds to the decoded sequence, so that the pieces of a completion join to its text. Decoding a
 * token alone loses what depends on its neighbours: SentencePiece decoders strip a leading space ("▁Once" alone is
 * "Once"), and byte-fallback tokens are parts of one character. So each token is decoded after a few tokens of
 * context (the previous tokens, or `context` — the prompt's last ids — for the first ones), and its piece is what it
 * appends: the incremental detokenisation of vLLM and TGI. A token that completes a multi-byte character carries
 * the whole character; the byte tokens before it carry ''.
 */
export function tokenPieces(tokenizer: TextTokenizer, ids: readonly number[], context: readonly number[] = []): string[] {
  const WINDOW = 4;
  const all = [...context.slice(-WINDOW), ...ids];
  const offset = all.length - ids.length;
  return ids.map((_, i) => {
    const end = offset + i;
    const start = Math.max(0, end - WINDOW);
    const before = tokenizer.decode(all.slice(start, end));
    const after = tokenizer.decode(all.slice(start, end + 1));
    // Bytes of a character still incomplete decode to U+FFFD: they add nothing yet.
    if (after.endsWith('\uFFFD')) return '';
    let common = 0;
    while (common < before.length && before[common] === after[common]) common++;
    return after.slice(common);
  });
}

/** The tokenizer stored in a checkpoint folder: a char tokenizer or a tokenizer.json. */
export function loadTokenizer(dir: string): TextTokenizer {
  if (fs.existsSync(path.join(dir, CharTokenizer.FILE))) return CharTokenizer.fromDirectory(dir);
  return HfTokenizer.fromDirectory(dir);
}

function readJson(file: string): Json {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Json;
  } catch (err) {
    throw new Error(`${file}: cannot read JSON (${(err as Error).message})`);
  }
}

/** Special tokens appear as a string or as an AddedToken object `{content: …}` in tokenizer_config.json. */
function tokenText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as Json).content === 'string') return (value as Json).content as string;
  return null;
}

/** `chat_template` is a string, or a list of named templates of which 'default' is used. */
function chatTemplateSource(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const named = value as { name?: string; template?: string }[];
    return (named.find((t) => t.name === 'default') ?? named[0])?.template ?? null;
  }
  return null;
}
