// Command-line checks shared by the benchmark's entry points.

/** A mistake in the command line, as opposed to a failure of a broker or a scenario. */
export class UsageError extends Error {}

/** `--name`'s value as a positive number (an integer if asked), or `fallback` when it was not given. */
export function positive(name: string, text: string | undefined, fallback: number, integer: boolean): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new UsageError(`--${name} must be a positive ${integer ? 'integer' : 'number'}, not ${JSON.stringify(text)}`);
  }
  return value;
}
