import type { Destination } from './api.js';

/**
 * Whether a queue holds dead letters. The API may say so itself (`deadLetter`); otherwise the
 * broker's default names tell: the shared `ActiveMQ.DLQ` and the `DLQ.` prefix of per-destination ones.
 */
export function isDeadLetterQueue(name: string, item?: Destination): boolean {
  const flag = (item as { deadLetter?: unknown } | undefined)?.deadLetter;
  if (typeof flag === 'boolean') return flag;
  return name === 'ActiveMQ.DLQ' || name.startsWith('DLQ.') || name.endsWith('.DLQ');
}

/** Globs that find dead-letter queues by those default names. */
export const DEAD_LETTER_FILTERS = ['*DLQ*'] as const;
