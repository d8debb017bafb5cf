import type { Message } from './message.js';
import type { QueueEntry } from './queue-entry.js';

/** A message of a queue with what its queue knows of its deliveries. */
export interface WaitingMessage {
  readonly message: Message;
  readonly deliveryCount: number;
  readonly redelivered: boolean;
  /** Delivered to a consumer and not settled yet: a move, copy, delete or retry, which take waiting messages only, leaves it. */
  readonly inFlight: boolean;
}

export function waiting(entry: QueueEntry): WaitingMessage {
  return { message: entry.message, deliveryCount: entry.deliveryCount, redelivered: entry.redelivered, inFlight: entry.consumer !== null };
}
