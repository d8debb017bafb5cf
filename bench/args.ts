// Command-line checks shared by the benchmark's entry points.

import { parseArgs, type ParseArgsConfig } from 'node:util';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

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

/**
 * A benchmark's settings from its command line: the options given are parsed with `parseArgs`, and
 * `read` turns their values into settings, throwing a `UsageError` for a value it refuses.
 * `--help` prints `usage` and exits 0; an unknown option, a missing value or a refused one prints
 * what was wrong and `usage` on standard error and exits 2.
 */
export function commandLine<O extends OptionsConfig, S>(usage: string, options: O, read: (values: ParsedValues<O>) => S): S {
  try {
    const { values } = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h' } } });
    if ((values as { help?: boolean }).help === true) {
      process.stdout.write(`${usage}\n`);
      process.exit(0);
    }
    return read(values as ParsedValues<O>);
  } catch (err) {
    if (!(err instanceof UsageError) && !(err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))) throw err;
    process.stderr.write(`${err.message}\n${usage}\n`);
    process.exit(2);
  }
}

type ParsedValues<O extends OptionsConfig> = ReturnType<typeof parseArgs<{ options: O }>>['values'];
