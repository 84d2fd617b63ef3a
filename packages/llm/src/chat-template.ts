// Chat templates: a model's Jinja template (tokenizer_config.json's `chat_template`, or chat_template.jinja)
// rendered with @huggingface/jinja in the environment transformers' apply_chat_template uses; a plain documented
// template for models that ship none (the embedded model is one).
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Template } from "@huggingface/jinja";
import { LlmError } from "./errors.js";
import { ggufModelTokenizer, isGgufModel } from "./gguf/model-file.js";
import { readJsonFile } from "./json-file.js";

/** One chat message: a role (`system`, `developer`, `user`, `assistant` or `tool`) and its text. */
export interface ChatMessage {
  role: string;
  content: string;
  name?: string;
  /** An assistant message's calls, as transformers passes them to templates (`function.arguments` an object or JSON text). */
  tool_calls?: readonly { id?: string; type?: string; function: { name: string; arguments: unknown } }[];
  /** A `tool` message: the call it answers. */
  tool_call_id?: string;
}

/**
 * The template for models without one: each message as `Role: content` (role capitalized, content trimmed),
 * messages separated by a blank line, and with a generation prompt a final `Assistant:` the model continues.
 * `[{role:"user",content:"Hi"}]` renders as `"User: Hi\n\nAssistant:"`.
 */
export const PLAIN_CHAT_TEMPLATE =
  "{%- for message in messages -%}" +
  "{%- if not loop.first %}{{ '\\n\\n' }}{% endif -%}" +
  "{{ message.role | capitalize }}: {{ message.content | trim }}" +
  "{%- endfor -%}" +
  "{%- if add_generation_prompt %}{{ '\\n\\nAssistant:' }}{% endif -%}";

/** Where a template came from: the model's files, or {@link PLAIN_CHAT_TEMPLATE}. */
export type ChatTemplateSource = "model" | "plain";

/** Options for {@link ChatTemplate.render}. */
export interface RenderOptions {
  /** End with the assistant's turn opened, so the model answers (transformers' `add_generation_prompt`). Default true. */
  addGenerationPrompt?: boolean;
  /**
   * Tools the model may call, passed to the template as its `tools` variable exactly as transformers passes them
   * (`[{type: "function", function: {name, description, parameters}}]`); a template without tool support ignores them.
   */
  tools?: readonly unknown[];
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** A special token's text from a tokenizer_config entry: a string or an AddedToken-like `{ content }`. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (isObject(v) && typeof v.content === "string") return v.content;
  return undefined;
}

/** A compiled chat template plus the special-token strings its context provides. */
export class ChatTemplate {
  readonly #template: Template;
  readonly #specials: Readonly<Record<string, string>>;

  private constructor(
    /** The Jinja source. */
    readonly source: string,
    /** Whether the model supplied it. */
    readonly origin: ChatTemplateSource,
    specials: Record<string, string>,
    /** Strip a leading bos_token from the rendered text (the tokenizer prepends bos itself). */
    private readonly stripBos: boolean,
    file: string,
  ) {
    try {
      this.#template = new Template(source);
    } catch (cause) {
      throw new LlmError("MODEL_LOAD", `${file}: chat template does not parse: ${(cause as Error).message}`, { file }, { cause });
    }
    this.#specials = Object.freeze({ ...specials });
  }

  /**
   * The chat template of the model in `dir`: `chat_template.jinja` if present, else tokenizer_config.json's
   * `chat_template` (a string, or a list of `{ name, template }` of which `default` is used), else the plain
   * template. `tokenizerAddsBos` says whether encoding the rendered text prepends bos already; if so a rendered
   * text that starts with bos_token has it removed, so the token ids equal transformers' (which encodes the
   * rendered text without special tokens). MODEL_LOAD naming the file when a template is malformed.
   */
  static async fromModelDir(dir: string, tokenizerAddsBos: boolean): Promise<ChatTemplate> {
    const gguf = isGgufModel(dir);
    const configFile = gguf ? dir : join(dir, "tokenizer_config.json");
    const config = gguf ? ggufModelTokenizer(dir).tokenizerConfig : await readJsonFile(configFile, { optional: true });
    const json: Json = isObject(config) ? config : {};
    const specials: Record<string, string> = {};
    for (const key of ["bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"]) {
      const text = tokenText(json[key]);
      if (text !== undefined) specials[key] = text;
    }
    const jinjaFile = join(dir, "chat_template.jinja");
    const fromFile = gguf ? undefined : await readFile(jinjaFile, "utf8").catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined;
      throw new LlmError("MODEL_LOAD", `${jinjaFile}: cannot read (${error.code ?? error.message})`, { file: jinjaFile }, { cause: error });
    });
    if (fromFile !== undefined) return new ChatTemplate(fromFile, "model", specials, tokenizerAddsBos, jinjaFile);
    const declared = templateOf(json.chat_template, configFile);
    if (declared !== undefined) return new ChatTemplate(declared, "model", specials, tokenizerAddsBos, configFile);
    return ChatTemplate.plain();
  }

  /** The plain template ({@link PLAIN_CHAT_TEMPLATE}). */
  static plain(): ChatTemplate {
    return new ChatTemplate(PLAIN_CHAT_TEMPLATE, "plain", {}, false, "PLAIN_CHAT_TEMPLATE");
  }

  /** A template from Jinja source, with the special-token strings its context should offer (tests, custom setups). */
  static fromSource(source: string, specials: Record<string, string> = {}, tokenizerAddsBos = false): ChatTemplate {
    return new ChatTemplate(source, "model", specials, tokenizerAddsBos, "chat template");
  }

  /**
   * The prompt text for `messages`. A template that raises (e.g. `raise_exception("roles must alternate")`) or
   * fails while rendering is refused with VALIDATION naming `messages`.
   */
  render(messages: readonly ChatMessage[], { addGenerationPrompt = true, tools }: RenderOptions = {}): string {
    let text: string;
    try {
      text = this.#template.render({
        ...this.#specials,
        messages: messages.map((m) => ({ ...m })),
        add_generation_prompt: addGenerationPrompt,
        ...(tools !== undefined && tools.length > 0 ? { tools: tools.map((t) => structuredClone(t)) } : {}),
      });
    } catch (cause) {
      throw new LlmError("VALIDATION", `messages: the chat template refused them: ${(cause as Error).message}`, { field: "messages" }, { cause });
    }
    const bos = this.#specials.bos_token;
    if (this.stripBos && bos !== undefined && bos !== "" && text.startsWith(bos)) text = text.slice(bos.length);
    return text;
  }
}

/** A tokenizer_config `chat_template` value: a string, or the `default` entry of a named list. */
function templateOf(value: unknown, file: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    const named = value.filter((t): t is Json => isObject(t) && typeof t.name === "string" && typeof t.template === "string");
    const chosen = named.find((t) => t.name === "default") ?? named[0];
    if (chosen !== undefined) return chosen.template as string;
  }
  throw new LlmError("MODEL_LOAD", `${file}: chat_template must be a string or a list of { name, template }`, { file });
}
