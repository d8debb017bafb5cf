import type { ConnectRequest, SaslExchange, TransportFacts } from './access.js';
import type { ConnectionWatcher } from './connection-events.js';
import type { CoreConnection } from './connection.js';
import type { ConsumerWatcher } from './consumer-events.js';
import type { DestinationWatcher } from './destination-events.js';
import type { MessageOutcomeWatcher } from './message-outcomes.js';
import type { ProducerWatcher } from './producer-events.js';
import type { SequenceMarkBook } from './sequence-marks.js';

/**
 * All of the broker that a protocol adapter (and a listener) holds: it connects, and does
 * everything else through the connection it gets. `grep -rnw Broker src/protocols src/transport`
 * finds nothing: that is how a reader checks that adapters keep to it.
 */
export interface BrokerAccess {
  readonly name: string;
  readonly isRunning: boolean;
  /**
   * Authenticates the client and opens its connection. Until it resolves, the protocol session
   * holds back the client's later frames; a refusal is a FerryError (FERRY_AUTHENTICATION_FAILED,
   * FERRY_CLIENT_ID_IN_USE, FERRY_BROKER_NOT_STARTED...) that the session turns into its
   * protocol's refusal.
   */
  connect(request: ConnectRequest): Promise<CoreConnection>;
  /** SASL mechanisms to offer a client on this transport, strongest first. */
  saslMechanisms(transport: TransportFacts): readonly string[];
  /**
   * Starts a challenge-response exchange (SCRAM-SHA-256) whose outcome a later `connect` or
   * `reauthenticate` takes as credentials; undefined for a mechanism that is not offered here.
   */
  startSasl(mechanism: string, transport: TransportFacts): SaslExchange | undefined;
  /**
   * Ids of the messages waiting in queues and durable subscriptions, for a protocol's duplicate
   * check to learn after a restart what the broker already holds (walks every waiting message).
   */
  waitingMessageIds(): Iterable<string>;
  /**
   * Tells `watcher` of every consumer open now and of each one opened or closed later, until the
   * returned function is called: what a network connector needs to follow demand.
   */
  watchConsumers(watcher: ConsumerWatcher): () => void;
  /** The same for queues and topics (temporary ones left out): made and deleted. */
  watchDestinations(watcher: DestinationWatcher): () => void;
  /** The same for the clients' connections (the broker's internal ones left out). */
  watchConnections(watcher: ConnectionWatcher): () => void;
  /** The same for the producers protocols name (AMQP 1.0 sending links). */
  watchProducers(watcher: ProducerWatcher): () => void;
  /**
   * Tells `watcher` of each message that expires while waiting and each one moved to a dead-letter
   * queue from now on, until the returned function is called (nothing is kept for it before).
   */
  watchMessageOutcomes(watcher: MessageOutcomeWatcher): () => void;
  /** Highest sequences taken from a protocol's producers, under its `scope`, kept across restarts (once started). */
  sequenceMarks(scope: string): SequenceMarkBook;
}
