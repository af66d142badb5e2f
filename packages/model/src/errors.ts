// The one error type of the model package: a message that names the file, tensor or numbers at fault.

/** A checkpoint, config, tokenizer or prompt that cannot be used as given. */
export class ModelError extends Error {
  override name = 'ModelError';
}
