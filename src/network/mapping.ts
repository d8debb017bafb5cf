import type { Destination, MessageInit } from '../core/index.js';
import { parseDestination, sendToMessage, type TemporaryNames } from '../protocols/stomp/index.js';

/**
 * A temporary destination named in a forwarded message (its reply-to) lives on the neighbour, as
 * the neighbour's client made it: here it is only a name.
 */
const remoteTemporaries: TemporaryNames = {
  resolve: (kind, localName) => ({ kind, name: localName, temporary: true }),
  localName: () => undefined,
};

/**
 * A MESSAGE frame from the neighbour as a core message: its headers are read as a SEND's would be
 * (the delivery's own, message-id, subscription, ack, redelivered, are left out). A queue's
 * message goes to the queue demanded; a topic's to the topic it was published on, which the
 * demanded pattern matched.
 */
export function messageFromLink(headers: ReadonlyMap<string, string>, body: Buffer, demanded: Destination): MessageInit {
  const sentTo = headers.get('destination');
  const destination = demanded.kind === 'topic' && sentTo !== undefined ? parseDestination(sentTo, remoteTemporaries) : demanded;
  return sendToMessage(headers, body, destination, remoteTemporaries);
}
