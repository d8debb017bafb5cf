import { isFerryError } from '../errors.js';
import { ApiError } from './http-api.js';
import { didNotGetThrough } from './unreachable.js';

/**
 * Columns padded to their widest cell; numbers right-aligned so that magnitudes line up. A control
 * character in a cell (a destination name may hold a line feed) is shown escaped, so that each
 * row stays one line.
 */
export function table(rows: readonly (readonly (string | number)[])[]): string {
  if (rows.length === 0) return '';
  const text = rows.map((r) => r.map((cell) => (typeof cell === 'number' ? String(cell) : printable(String(cell)))));
  const widths = text[0]!.map((_, i) => Math.max(...text.map((r) => (r[i] ?? '').length)));
  return text
    .map((r, row) => r.map((cell, i) => (typeof rows[row]![i] === 'number' ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd())
    .join('\n');
}

function printable(cell: string): string {
  return cell.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * The exit status a script can branch on: 1 the command line (and a request the API found bad,
 * 400, which the command line made), 2 the broker cannot be reached, 3 refused, 4 not found, 5
 * any other answer from the API. Anything else (a bug) is 1, as before.
 */
/** The exit status of a command that found no such queue, message or connection. */
export const EXIT_NOT_FOUND = 4;

export function exitStatusOf(err: unknown): number {
  if (err instanceof ApiError) {
    if (err.status === 400) return 1;
    if (err.status === 401 || err.status === 403) return 3;
    if (err.status === 404) return EXIT_NOT_FOUND;
    return 5;
  }
  if (didNotGetThrough(err)) return 2;
  return 1;
}

/** parseArgs' own mistakes (an unknown option, a missing value) are usage errors too. */
function isParseArgsError(err: unknown): err is Error {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'string' && (err as unknown as { code: string }).code.startsWith('ERR_PARSE_ARGS');
}

/** Runs a management command; what fails is printed with its code and turned into the exit status. */
export async function managementCommand(run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof ApiError || isFerryError(err)) {
      process.stderr.write(`ferry: ${err.code}: ${err.message}\n`);
      return exitStatusOf(err);
    }
    if (isParseArgsError(err)) {
      process.stderr.write(`ferry: FERRY_CLI_USAGE: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
