import type { BrokerAccess, Message } from '../../core/index.js';
import { advisoryTopic, type Advisories, type AdvisoryProperties } from './advisories.js';
import type { DataStructure } from './commands.js';
import { messageIdText, toBodilessWireMessage } from './mapping.js';

/** ActiveMQ's AdvisorySupport.MSG_PROPERTY_MESSAGE_ID, misspelt as ActiveMQ spells it. */
const ORIGINAL_MESSAGE_ID = 'orignalMessageId';

/**
 * `ActiveMQ.Advisory.Expired.Queue.<name>` (`.Topic.<name>`) for each message that expires while
 * waiting, and `ActiveMQ.Advisory.MessageDLQd.Queue.<name>` (`.Topic.<name>`) for each one moved
 * to a dead-letter queue, as ActiveMQ 5.17 sends them: the data structure is the message with its
 * body cleared, and the expired advisory names the message's id in `orignalMessageId` (the
 * dead-letter one does not; its message carries the id). Events, not state: a consumer that comes
 * later hears of none before it.
 */
export function watchMessageOutcomes(broker: BrokerAccess, advisories: Advisories): () => void {
  return broker.watchMessageOutcomes({
    expired: (message, destination) => advisories.fire(advisoryTopic('Expired', destination), () => bodiless(message, true)),
    deadLettered: (message, from) => advisories.fire(advisoryTopic('MessageDLQd', from), () => bodiless(message, false)),
  });
}

function bodiless(message: Message, namesId: boolean): { info: DataStructure; properties: AdvisoryProperties } {
  const info = toBodilessWireMessage(message);
  return { info, properties: namesId && info.messageId !== null ? [[ORIGINAL_MESSAGE_ID, messageIdText(info.messageId)]] : [] };
}
