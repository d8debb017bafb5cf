import { bodyLengthOf, type Broker } from '../../core/index.js';
import { destinationUri } from './messages.js';

export function listScheduled(broker: Broker, offset: number, limit: number): { items: Record<string, unknown>[]; offset: number; limit: number; total: number } {
  const jobs = broker.admin.scheduledList();
  const items = jobs.slice(offset, offset + limit).map((job) => ({
    id: job.id,
    messageId: job.message.id,
    destination: destinationUri(job.message.destination),
    nextDue: new Date(job.due).toISOString(),
    repeatsLeft: job.remaining,
    period: job.period,
    cron: job.cron ?? null,
    bodyBytes: bodyLengthOf(job.message),
  }));
  return { items, offset, limit, total: jobs.length };
}
