import { hasWildcard, matchesPattern, type Destination, type MessageInit } from '../core/index.js';
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
 * (the delivery's own, message-id, subscription, ack, redelivered, are left out). A topic's message
 * goes to the topic it was published on, which the demanded pattern matched; a queue's to the queue
 * demanded or, for a wildcard consumer's pattern (which no message can be sent to), to the queue the
 * pattern matched there. A queue's MESSAGE can name another destination than the queue it came from
 * (the virtual topic a consumer queue's message was published on): only a queue the pattern
 * matches is taken from it.
 */
export function messageFromLink(headers: ReadonlyMap<string, string>, body: Buffer, demanded: Destination): MessageInit {
  return sendToMessage(headers, body, storedIn(headers.get('destination'), demanded), remoteTemporaries);
}

function storedIn(sentTo: string | undefined, demanded: Destination): Destination {
  if (sentTo === undefined) return demanded;
  if (demanded.kind === 'topic') return parseDestination(sentTo, remoteTemporaries);
  if (!hasWildcard(demanded.name) || !sentTo.startsWith('/queue/')) return demanded;
  const queue = parseDestination(sentTo, remoteTemporaries);
  return queue.kind === 'queue' && matchesPattern(demanded.name, queue.name) ? queue : demanded;
}
