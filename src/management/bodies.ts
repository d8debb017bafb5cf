import { z } from 'zod';
import type { Message } from '../core/index.js';

/** POST /api/v1/destinations */
export const createDestinationBody = z.object({ kind: z.enum(['queue', 'topic']), name: z.string().min(1) }).strict();

/** A message as the routes before v1 show it (GET /api/queues/NAME/messages). */
export function legacyMessageView(message: Message): Record<string, unknown> {
  return {
    id: message.id,
    destination: `${message.destination.kind}://${message.destination.name}`,
    persistent: message.persistent,
    priority: message.priority,
    timestamp: message.timestamp,
    expiration: message.expiration,
    correlationId: message.correlationId,
    type: message.type,
    groupId: message.groupId,
    properties: Object.fromEntries([...message.properties].map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : Buffer.isBuffer(v) ? v.toString('base64') : v])),
    bodyKind: message.bodyKind,
    bodyBytes: message.body.length,
    body: message.bodyKind === 'text' ? message.body.toString('utf8') : message.body.toString('base64'),
  };
}
