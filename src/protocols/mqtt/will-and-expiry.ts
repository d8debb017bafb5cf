import type { IDisconnectPacket } from 'mqtt-packet';
import { FerryError, errorFields } from '../../errors.js';
import type { BrokerAccess, Logger } from '../../core/index.js';
import { publishToMessage } from './mapping.js';
import { FOREVER, NO_OUTBOUND, NO_SUBSCRIPTIONS, type MqttConnection, type Will } from './connection.js';
import { dropInactiveDurables, forgetSessionKept, keepSessionExpiry, keptSessionExpiry, keptSessionOwners } from './durable-session.js';
import { longTimeout, type SessionState, type SessionStates } from './session-state.js';
import { isBridgeStateTopic, isSysTopic, topicToFerry } from './topics.js';

/** The end of a connection and of its session: DISCONNECT, the will and its delay, session expiry. */

export function onDisconnect(s: MqttConnection, packet: IDisconnectPacket): void {
  const requested = packet.properties?.sessionExpiryInterval;
  if (requested !== undefined) {
    // [MQTT-3.14.2-2]: a session that was to end with the connection cannot be kept at DISCONNECT
    if (s.sessionExpiry === 0 && requested !== 0) throw new FerryError('FERRY_MQTT_PROTOCOL', 'DISCONNECT sets a session expiry when CONNECT had none');
    s.sessionExpiry = Math.min(requested, s.options.maxSessionExpiry);
    if (s.sessionExpiry > 0 && s.core !== undefined) keepSessionExpiry(s.core, s.sessionExpiry);
  }
  // [MQTT-3.14.4-3]: a normal DISCONNECT discards the will; 0x04 asks for it to be published
  if (packet.reasonCode !== 0x04) s.will = undefined;
  s.closing = true;
  const finish = (): void => {
    s.end();
    release(s, s.will !== undefined);
  };
  if (s.durable === null) finish();
  else s.durable.then(finish, finish);
}

/** Ends this connection's hold on core and on its session: the will, the session's expiry. */
export function release(s: MqttConnection, publishWill: boolean): void {
  clearTimeout(s.connectTimer);
  s.keepAlive.unwatch(s);
  const core = s.core;
  const state = s.state;
  if (core === undefined || state === undefined) return;
  s.core = undefined;
  s.session = undefined;
  s.state = undefined;
  state.connected = false;
  if (state.connection === s) state.connection = undefined;
  for (const subscription of s.subscriptions.values()) subscription.consumers.length = 0;
  s.subscriptions = NO_SUBSCRIPTIONS;
  s.outbound = NO_OUTBOUND;
  core.close();
  const will = publishWill ? s.will : undefined;
  s.will = undefined;
  if (s.evicted) {
    // the newer connection carries the session on; a will without delay still goes out
    if (will !== undefined && will.delay === 0) publishWillOf(s, will);
    return;
  }
  const expiry = s.sessionExpiry;
  if (will !== undefined) {
    const delay = Math.min(will.delay, expiry);
    if (delay === 0) publishWillOf(s, will);
    else {
      const send = (): void => {
        clearTimeout(state.willTimer);
        state.willTimer = undefined;
        state.pendingWill = undefined;
        publishWillOf(s, will);
      };
      state.pendingWill = send;
      state.willTimer = longTimeout(delay * 1000, send);
    }
  }
  if (expiry === 0) endSession(s, state);
  else if (expiry !== FOREVER) state.expiryTimer = longTimeout(expiry * 1000, () => endSession(s, state));
}

/**
 * The broker is stopping and is about to close this connection, which did not end with a normal
 * DISCONNECT: its will goes out now, whatever its delay, since neither the will nor its timer
 * outlives the stop, while every subscriber is still connected and the store still writes.
 */
export function publishWillAtStop(s: MqttConnection): void {
  const will = s.will;
  if (will === undefined || s.core === undefined) return;
  s.will = undefined;
  publishWillOf(s, will);
}

/** What ends sessions: the adapter's sessions, and its way to the broker and the log. */
type Sessions = { readonly broker: BrokerAccess; readonly states: SessionStates; readonly logger: Logger };

/**
 * After a restart, the persistent sessions no client holds yet end their expiry interval from now
 * (no clock of the broker's downtime is kept). Every session that kept an expiry is one, a
 * publisher's that keeps only its QoS 2 packet ids too.
 */
export function expireKeptSessions(sessions: Sessions): void {
  sessions.states.withInternal(sessions.broker, ({ connection }) => {
    for (const clientId of keptSessionOwners(connection)) {
      const expiry = keptSessionExpiry(connection, clientId);
      if (expiry === undefined || expiry === FOREVER || sessions.states.get(clientId) !== undefined) continue;
      const state = sessions.states.open(clientId);
      state.expiryTimer = longTimeout(expiry * 1000, () => endSession(sessions, state));
    }
  });
}

/** The session is over: its durable subscriptions go, and with them what they kept. */
function endSession(s: Sessions, state: SessionState): void {
  const { broker, states } = s;
  if (state.connected || states.get(state.clientId) !== state) return;
  // [MQTT-3.1.3-9]: a delayed will goes out when its session ends, if not before
  const pendingWill = state.pendingWill;
  states.delete(state);
  pendingWill?.();
  const clientId = state.clientId;
  // the connection is gone: the adapter's own connection removes what the session kept
  states.withInternal(broker, ({ connection }) => {
    // a client that came back meanwhile has its session again
    if (states.get(clientId) !== undefined) return;
    forgetSessionKept(connection, clientId);
    dropInactiveDurables(connection, clientId, (err) => {
      s.logger.debug({ event: 'mqtt.session-expiry', ...errorFields(err) }, 'could not remove a durable subscription of an expired session');
    });
  });
}

function publishWillOf(s: MqttConnection, will: Will): void {
  // dropped when due rather than refused at CONNECT, as Mosquitto does; a bridge's state, its will
  // by default, is the one place under $SYS a client publishes to
  if (isSysTopic(will.topic) && !isBridgeStateTopic(will.topic)) {
    s.logger.debug({ event: 'mqtt.sys-publish-dropped', topic: will.topic, clientId: s.clientId }, 'a client\'s will under $SYS dropped');
    return;
  }
  try {
    const payload = typeof will.init.payload === 'string' ? Buffer.from(will.init.payload, 'utf8') : will.init.payload;
    const init = publishToMessage(will.init, topicToFerry(will.topic), payload, Date.now(), will.retain);
    s.states.publish(s.broker, init, will.retain);
  } catch (err) {
    s.logger.warn({ event: 'mqtt.will-failed', clientId: s.clientId, ...errorFields(err) }, 'could not publish a will');
  }
}
