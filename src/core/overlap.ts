import type { Message } from './message.js';
import type { MessageQueue } from './message-queue.js';

/**
 * Topic subscriptions of one owner (the client id for durable ones, else the connection) that
 * name the same group are one subscriber: a message matching several of them is routed once, to
 * the one of highest rank (the first found on a tie), and its delivery lists the tags of all that
 * matched (`Delivery.matched`). Ranking the one that keeps the message best (MQTT: the highest
 * QoS) first means no message is lost to a weaker copy. A durable subscription's membership is
 * kept in its record, so it holds across a restart too.
 */
export interface OverlapMember {
  readonly group: string;
  readonly rank: number;
  /** What `Delivery.matched` says for this subscription. */
  readonly tag: number;
}

/** Where routing puts a message: a queue, the message (or its copy), and for an overlap group the tags that matched. */
export type RouteTarget = [queue: MessageQueue, message: Message, matched?: readonly number[]];

/** An overlap group as a subscription holds it: the group's name within its owner's key. */
export interface OverlapKey {
  readonly key: string;
  readonly rank: number;
  readonly tag: number;
}

export function overlapOf(owner: string, member: OverlapMember): OverlapKey {
  return { key: `${owner}\u0000${member.group}`, rank: member.rank, tag: member.tag };
}

/**
 * The one queue of a group's matching subscriptions that gets the message: the highest rank, the
 * first found on a tie. With more than one match, it carries every matching subscription's tag.
 */
export function overlapTarget(members: readonly { readonly queue: MessageQueue; readonly overlap: OverlapKey | undefined }[], message: Message): RouteTarget {
  let best = members[0]!;
  for (let i = 1; i < members.length; i++) if (members[i]!.overlap!.rank > best.overlap!.rank) best = members[i]!;
  if (members.length === 1) return [best.queue, message];
  return [best.queue, message, members.map((m) => m.overlap!.tag)];
}
