import type { BrokerAccess, ConnectionFacts, ConsumerInfo as CoreConsumerInfo, DurableRemoved, ProducerFacts } from '../../core/index.js';
import { ADVISORY_PREFIX, advisoryTopic, type Advisories } from './advisories.js';
import { T, type ConnectionId, type ConnectionInfo, type ConsumerId, type ConsumerInfo, type DataStructure, type ProducerId, type ProducerInfo, type RemoveInfo, type RemoveSubscriptionInfo } from './commands.js';
import { toWireDestination } from './mapping.js';

const CONNECTION_ADVISORY = `${ADVISORY_PREFIX}Connection`;

/**
 * The connections, consumers and producers of the other protocols (STOMP, MQTT, AMQP) on
 * `ActiveMQ.Advisory.Connection`, `.Consumer.*` and `.Producer.*`, as ActiveMQ announces every
 * client whatever it speaks: JMS tools that watch advisories see them all. OpenWire's own
 * connections announce themselves with the commands their clients sent; the others get commands
 * made from what core knows, with the core connection's id as their connection id and core's
 * consumer or producer id as theirs (session 0). Of the other protocols only AMQP 1.0 names
 * producers (its sending links); STOMP and MQTT sends say where they go, one by one.
 *
 * A durable subscription removed, by any protocol's client (a JMS unsubscribe too) or an operator,
 * is told on its topic's consumer advisory as ActiveMQ tells it: a RemoveSubscriptionInfo naming
 * the owner's client id, the subscription and the connection that removed it (none for an operator).
 */
export function watchOtherProtocols(broker: BrokerAccess, advisories: Advisories): () => void {
  const unwatchConnections = broker.watchConnections({
    added: (connection) => {
      if (connection.protocol === 'openwire') return;
      advisories.announce(CONNECTION_ADVISORY, connectionKey(connection.id), connectionInfo(connection));
    },
    removed: (connection) => advisories.withdraw(CONNECTION_ADVISORY, connectionKey(connection.id), removeInfo({ type: T.CONNECTION_ID, value: connection.id })),
  });
  const unwatchConsumers = broker.watchConsumers({
    added: (consumer) => {
      if (isDurableSubscription(consumer)) advisories.keepDurable(advisoryTopic('Consumer', consumer.destination), consumerKey(consumer));
      if (!announced(consumer)) return;
      advisories.announce(advisoryTopic('Consumer', consumer.destination), consumerKey(consumer), consumerInfo(consumer), consumer.durable);
    },
    removed: (consumer) => {
      if (isDurableSubscription(consumer)) advisories.dropDurable(advisoryTopic('Consumer', consumer.destination), consumerKey(consumer));
      if (!announced(consumer)) return;
      advisories.withdraw(advisoryTopic('Consumer', consumer.destination), consumerKey(consumer), removeInfo(consumerId(consumer)));
    },
    unsubscribed: (removal) => {
      if (removal.pattern.startsWith(ADVISORY_PREFIX)) return;
      const connection = removal.connectionId === undefined ? undefined : advisories.find(CONNECTION_ADVISORY, connectionKey(removal.connectionId));
      const connectionId = connection === undefined ? null : (connection as ConnectionInfo).connectionId;
      advisories.unsubscribed(advisoryTopic('Consumer', { kind: 'topic', name: removal.pattern }), removeSubscriptionInfo(removal, connectionId));
    },
  });
  const unwatchProducers = broker.watchProducers({
    added: (producer) => {
      if (!producerAnnounced(producer)) return;
      advisories.announce(advisoryTopic('Producer', producer.destination!), producerKey(producer), producerInfo(producer));
    },
    removed: (producer) => {
      if (!producerAnnounced(producer)) return;
      advisories.withdraw(advisoryTopic('Producer', producer.destination!), producerKey(producer), removeInfo(producerId(producer)));
    },
  });
  return () => {
    unwatchConnections();
    unwatchConsumers();
    unwatchProducers();
  };
}

/** A producer of another protocol with a destination of its own (an anonymous relay has no advisory topic). */
function producerAnnounced(producer: ProducerFacts): boolean {
  return producer.protocol !== 'openwire' && !producer.internal && producer.destination !== undefined && !producer.destination.name.startsWith(ADVISORY_PREFIX);
}

const producerKey = (producer: ProducerFacts): string => `${producer.connectionId}/producer/${producer.id}`;

function producerId(producer: ProducerFacts): ProducerId {
  return { type: T.PRODUCER_ID, connectionId: producer.connectionId, sessionId: 0, value: producer.id };
}

function producerInfo(producer: ProducerFacts): ProducerInfo {
  return { type: T.PRODUCER_INFO, commandId: 0, responseRequired: false, producerId: producerId(producer), destination: toWireDestination(producer.destination!), windowSize: 0 };
}

/** A durable subscription's own entry (no connection): there whether its subscriber is connected or not. */
function isDurableSubscription(consumer: CoreConsumerInfo): boolean {
  return consumer.protocol === '' && consumer.durable && !consumer.destination.name.startsWith(ADVISORY_PREFIX);
}

/** A consumer of a client of another protocol; a durable subscription's own entry (no connection) is not one. */
function announced(consumer: CoreConsumerInfo): boolean {
  return consumer.protocol !== 'openwire' && consumer.protocol !== '' && !consumer.internal && !consumer.destination.name.startsWith(ADVISORY_PREFIX);
}

// the keys of OpenWire's own announcements have the same shape: one core id never speaks two protocols
const connectionKey = (id: string): string => `${id}/connection`;
const consumerKey = (consumer: CoreConsumerInfo): string => `${consumer.connectionId}/consumer/${consumer.id}`;

function connectionInfo(connection: ConnectionFacts): ConnectionInfo {
  return {
    type: T.CONNECTION_INFO,
    commandId: 0,
    responseRequired: false,
    connectionId: { type: T.CONNECTION_ID, value: connection.id },
    clientId: connection.clientId ?? null,
    password: null,
    userName: connection.user ?? null,
    clientIp: connection.remoteAddress,
  };
}

function consumerId(consumer: CoreConsumerInfo): ConsumerId {
  return { type: T.CONSUMER_ID, connectionId: consumer.connectionId, sessionId: 0, value: consumer.id };
}

function consumerInfo(consumer: CoreConsumerInfo): ConsumerInfo {
  return {
    type: T.CONSUMER_INFO,
    commandId: 0,
    responseRequired: false,
    consumerId: consumerId(consumer),
    browser: false,
    destination: toWireDestination(consumer.destination),
    // what the other protocol's credit is, core does not say: ActiveMQ's default queue prefetch
    prefetchSize: 1000,
    selector: consumer.selector ?? null,
    // the durable subscription's name, as ActiveMQ's: a STOMP subscription id names only the subscriber
    subscriptionName: consumer.durableName ?? null,
    noLocal: false,
    exclusive: false,
    retroactive: false,
    priority: consumer.priority,
    noRangeAcks: false,
  };
}

/** `connectionId`: the OpenWire id its ConnectionInfo advisory gave the connection that removed it. */
function removeSubscriptionInfo(removal: DurableRemoved, connectionId: ConnectionId | null): RemoveSubscriptionInfo {
  return { type: T.REMOVE_SUBSCRIPTION_INFO, commandId: 0, responseRequired: false, connectionId, subscriptionName: removal.name, clientId: removal.owner };
}

function removeInfo(objectId: DataStructure): RemoveInfo {
  return { type: T.REMOVE_INFO, commandId: 0, responseRequired: false, objectId, lastDeliveredSequenceId: 0 };
}
