import type { Destination } from './api.js';

/**
 * Whether a queue holds dead letters. The API says so (`deadLetter`, from the broker's policies);
 * before its figures have come, the broker's default names tell: the shared `ActiveMQ.DLQ` and the
 * `DLQ.` prefix of per-destination ones.
 */
export function isDeadLetterQueue(name: string, item?: Destination): boolean {
  if (item !== undefined) return item.deadLetter;
  return name === 'ActiveMQ.DLQ' || name.startsWith('DLQ.') || name.endsWith('.DLQ');
}
