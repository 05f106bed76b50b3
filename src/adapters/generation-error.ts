/** A generator run that produced something unusable. Retrying cannot help: the job fails. */
export class GenerationError extends Error {
  readonly code = 'generation_failed';
  constructor(message: string) {
    super(message);
    this.name = 'GenerationError';
  }
}
