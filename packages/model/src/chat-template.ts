// HF chat templates (Jinja, from tokenizer_config.json or chat_template.jinja), rendered
// with @huggingface/jinja the way transformers' apply_chat_template does.
import { Template } from '@huggingface/jinja';
import { TokenizerError, type ChatMessage, type ChatTemplateOptions } from './tokenizer.js';

/**
 * The template text in a tokenizer_config.json `chat_template` value: a string, or a list of
 * named templates (transformers uses the one named "default").
 */
export function pickChatTemplate(value: unknown, name: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const named = value.filter(
      (t): t is { name: string; template: string } =>
        typeof t === 'object' && t !== null && typeof t.name === 'string' && typeof t.template === 'string',
    );
    const chosen = named.find((t) => t.name === 'default') ?? named[0];
    if (chosen !== undefined) return chosen.template;
  }
  throw new TokenizerError(`${name}: chat_template must be a string or a list of {name, template}`);
}

/** A parsed chat template and the special-token strings it may refer to (bos_token, eos_token, ...). */
export class ChatTemplate {
  private readonly template: Template;

  constructor(
    readonly source: string,
    private readonly specialTokens: Readonly<Record<string, string>>,
    private readonly name: string,
  ) {
    try {
      this.template = new Template(source);
    } catch (err) {
      throw new TokenizerError(`${name}: the chat template does not parse: ${errorMessage(err)}`, { cause: err });
    }
  }

  render(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    const context: Record<string, unknown> = {
      ...this.specialTokens,
      ...options.extra,
      messages: messages.map((m) => ({ ...m })),
      add_generation_prompt: options.addGenerationPrompt ?? false,
    };
    try {
      return this.template.render(context);
    } catch (err) {
      throw new TokenizerError(`${this.name}: the chat template failed: ${errorMessage(err)}`, { cause: err });
    }
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
