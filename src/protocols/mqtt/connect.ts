import { isUtf8 } from 'node:buffer';
import type mqttPacket from 'mqtt-packet';
import type { IConnectPacket } from 'mqtt-packet';
import { FerryError, errorFields, isFerryError } from '../../errors.js';
import type { CoreConnection, Credentials, DurableSubscriptionInfo } from '../../core/index.js';
import { startConnectAuth } from './auth.js';
import { afterDurable } from './inbound.js';
import { encodeAck } from './mapping.js';
import { FOREVER, type MqttConnection, type Version } from './connection.js';
import { dropDurable, durableSubscriptionsOf, forgetSessionKept, holdsAnyQos2Id, keepSessionExpiry, owedPubrels, readDurable } from './durable-session.js';
import { Reason, mqttReasonOf } from './reasons.js';
import type { SessionState } from './session-state.js';
import { openConsumer } from './subscriptions.js';
import { isSysTopic, parseFilter, topicToFerry } from './topics.js';
import { release } from './will-and-expiry.js';

/** CONNECT and CONNACK, the resumption of a persistent session, keep-alive, and takeover by a newer connection. */

let nextAssignedId = 1;

export function connect(s: MqttConnection, packet: IConnectPacket): void {
  clearTimeout(s.connectTimer);
  s.connectTimer = undefined;
  const version = (packet.protocolVersion ?? 4) as Version;
  s.version = version;
  // mqtt-packet takes the bit off the level and reports it here; its types leave it out
  s.bridge = (packet as { bridgeMode?: boolean }).bridgeMode === true;
  const v5 = version === 5;
  const props = packet.properties ?? {};
  const clean = packet.clean !== false;
  let clientId = packet.clientId ?? '';
  let assigned: string | undefined;
  if (clientId === '') {
    // [MQTT-3.1.3-8]: 3.1.1 assigns an id only to a clean session
    if (!v5 && !clean) return refuse(s, new FerryError('FERRY_CLIENT_ID_REQUIRED', 'a session that is not clean needs a client id'));
    clientId = assigned = `ferry-${process.pid.toString(36)}-${Date.now().toString(36)}-${nextAssignedId++}`;
  }
  s.clientId = clientId;
  const requestedExpiry = v5 ? (props.sessionExpiryInterval ?? 0) : clean ? 0 : FOREVER;
  s.sessionExpiry = Math.min(requestedExpiry, s.options.maxSessionExpiry);
  if (v5) {
    // [MQTT-3.1.2.11.3, 3.1.2.11.4] 0 is a Protocol Error, not a client that takes nothing; a CONNECT has no topic alias
    if (props.receiveMaximum === 0 || props.maximumPacketSize === 0 || (props as { topicAlias?: number }).topicAlias !== undefined) {
      const which = props.receiveMaximum === 0 ? 'Receive Maximum 0' : props.maximumPacketSize === 0 ? 'Maximum Packet Size 0' : 'a Topic Alias';
      return refuse(s, new FerryError('FERRY_MQTT_PROTOCOL', `a CONNECT with ${which} is a protocol error`));
    }
    if (props.receiveMaximum !== undefined) s.sendWindow = props.receiveMaximum;
    if (props.maximumPacketSize !== undefined) s.clientMaxPacketSize = props.maximumPacketSize;
    s.clientAliasMaximum = props.topicAliasMaximum ?? 0;
  } else if (s.bridge) s.sendWindow = Math.min(s.sendWindow, s.options.bridgeMaxInflight);
  if (packet.will !== undefined) {
    // the will's topic must be publishable; refuse it now rather than when the client is gone
    try {
      topicToFerry(packet.will.topic);
      // [MQTT 3.1.3.2.3] as a PUBLISH's is checked (see inbound.ts)
      if (packet.will.properties?.payloadFormatIndicator === true && Buffer.isBuffer(packet.will.payload) && !isUtf8(packet.will.payload)) {
        throw new FerryError('FERRY_MQTT_PAYLOAD_FORMAT_INVALID', 'a will with Payload Format Indicator 1 and a payload that is not UTF-8');
      }
    } catch (err) {
      return refuse(s, err);
    }
  }
  const admit = (credentials: Credentials, auth: ConnackAuth | undefined): void => {
    // what the client sends before its CONNACK waits, and so does the socket, until the broker has decided
    s.held ??= [];
    s.transport.pause();
    decide(s, packet, credentials, clean, assigned, requestedExpiry, auth);
  };
  const method = props.authenticationMethod;
  if (method === undefined) return admit({ username: packet.username, password: packet.password }, undefined);
  // [MQTT 4.12] enhanced authentication: the exchange proves the client, and is its credentials
  startConnectAuth(
    s,
    method,
    props.authenticationData,
    (exchange, finalData) => admit({ exchange }, { authenticationMethod: method, ...(finalData === undefined ? {} : { authenticationData: finalData }) }),
    (err) => refuse(s, err),
  );
}

/** What a CONNACK carries of an enhanced authentication: its method and final data. */
type ConnackAuth = { authenticationMethod: string; authenticationData?: Buffer };

function decide(s: MqttConnection, packet: IConnectPacket, credentials: Credentials, clean: boolean, assigned: string | undefined, requestedExpiry: number, auth: ConnackAuth | undefined): void {
  s.broker
    .connect({
      protocol: 'mqtt',
      transport: { remoteAddress: s.transport.remoteAddress, peerCertificate: s.transport.peerCertificate },
      credentials,
      clientId: s.clientId,
      // [MQTT-3.1.4-2] the server disconnects the client already connected with this client id, whoever it logged in as
      takeOver: 'from-anyone',
    })
    .then(
      (core) => {
        if (s.closing || s.transport.closed) {
          s.held = undefined;
          core.close();
          return;
        }
        let willRefused = false;
        if (packet.will !== undefined) {
          // the broker publishes the will for the client later, unchecked: the client needs the
          // right to publish there now (send, and create for a topic not there yet)
          try {
            core.checkDestination({ kind: 'topic', name: topicToFerry(packet.will.topic) });
          } catch (err) {
            // a Mosquitto bridge's CONNECT carries a will on $SYS/broker/connection/<id>/state (its
            // `notifications`, on by default): Mosquitto drops such a will when it may not publish
            // there, and lets the bridge in
            if (isSysTopic(packet.will.topic) && isFerryError(err, 'FERRY_NOT_AUTHORIZED')) {
              s.logger.debug({ event: 'mqtt.will-refused', topic: packet.will.topic, clientId: s.clientId, ...errorFields(err) }, 'a will under $SYS the client may not publish: dropped');
              willRefused = true;
            } else {
              s.held = undefined;
              core.close();
              refuse(s, err);
              return;
            }
          }
        }
        try {
          connected(s, core, packet, clean, assigned, requestedExpiry, auth);
          if (willRefused) s.will = undefined;
        } catch (err) {
          s.held = undefined;
          s.fail(err);
          return;
        }
        s.replayHeld();
      },
      (err: unknown) => {
        s.held = undefined;
        refuse(s, err);
      },
    );
}

function connected(s: MqttConnection, core: CoreConnection, packet: IConnectPacket, clean: boolean, assigned: string | undefined, requestedExpiry: number, auth: ConnackAuth | undefined): void {
  const { clientId, version } = s;
  const v5 = version === 5;
  s.core = core;
  core.onEvicted = () => onEvicted(s);
  // the broker closes the connection itself (its user was removed): MQTT 5 hears DISCONNECT 0x87, 3.1.1 a closed socket
  core.onRevoked = (reason) => s.fail(reason);
  s.session = core.createSession();

  const existing = s.states.get(clientId);
  existing?.cancelTimers();
  const durables = durableSubscriptionsOf(core);
  let sessionPresent = false;
  if (clean) {
    // [MQTT-3.1.2-6]: a clean session (clean start) discards the one before
    for (const d of durables) dropDurable(core, d.name);
    forgetSessionKept(core);
    if (existing !== undefined) s.states.delete(existing);
  } else {
    // after a restart only the journal knows what a session kept: a publisher's session keeps nothing but its QoS 2 packet ids
    sessionPresent = existing !== undefined || durables.length > 0 || owedPubrels(core).length > 0 || holdsAnyQos2Id(core);
  }
  if (s.sessionExpiry > 0) keepSessionExpiry(core, s.sessionExpiry);
  const state = s.states.open(clientId);
  state.connected = true;
  state.connection = s;
  state.connectionStarted();
  s.state = state;

  if (packet.will !== undefined) {
    const will = packet.will;
    const willProps = will.properties ?? {};
    s.will = {
      init: { qos: will.qos ?? 0, payload: will.payload, ...(willProps === undefined ? {} : { properties: willProps }) },
      topic: will.topic,
      retain: will.retain === true,
      delay: v5 ? (willProps.willDelayInterval ?? 0) : 0,
    };
  }

  const keepAlive = packet.keepalive ?? 0;
  let serverKeepAlive: number | undefined;
  const max = s.options.maxKeepAlive;
  if (max > 0 && (keepAlive === 0 || keepAlive > max)) serverKeepAlive = max;
  const effectiveKeepAlive = v5 && serverKeepAlive !== undefined ? serverKeepAlive : keepAlive;

  const connackProps: NonNullable<mqttPacket.IConnackPacket['properties']> = {
    receiveMaximum: s.options.receiveMaximum,
    maximumPacketSize: s.options.maxPacketSize,
    topicAliasMaximum: s.options.topicAliasMaximum,
    retainAvailable: true,
    wildcardSubscriptionAvailable: true,
    subscriptionIdentifiersAvailable: true,
    sharedSubscriptionAvailable: true,
  };
  if (assigned !== undefined) connackProps.assignedClientIdentifier = assigned;
  if (auth !== undefined) Object.assign(connackProps, auth);
  if (serverKeepAlive !== undefined) connackProps.serverKeepAlive = serverKeepAlive;
  if (v5 && s.sessionExpiry !== requestedExpiry) connackProps.sessionExpiryInterval = s.sessionExpiry;
  connack(s, sessionPresent, 0, connackProps);
  if (sessionPresent) resume(s, durables, state);
  if (effectiveKeepAlive > 0) startKeepAlive(s, effectiveKeepAlive);
  s.logger.debug({ event: 'mqtt.connected', connection: core.id, clientId, version, clean, remote: s.transport.remoteAddress }, 'MQTT client connected');
}

/** Refuses a CONNECT with the CONNACK code of reasons.ts (3.1.1: none where it has no fitting one) and closes the connection. */
function refuse(s: MqttConnection, err: unknown): void {
  const reason = mqttReasonOf(err);
  const code = s.version === 5 ? reason.connack : reason.legacyConnack;
  if (code !== undefined) connack(s, false, code, {});
  s.logFailure(err, 'MQTT CONNECT refused');
  s.shutdown();
}

export function connack(s: MqttConnection, sessionPresent: boolean, code: number, properties: NonNullable<mqttPacket.IConnackPacket['properties']>): void {
  const packet: mqttPacket.IConnackPacket = { cmd: 'connack', sessionPresent };
  if (s.version === 5) {
    packet.reasonCode = code;
    packet.properties = properties;
  } else packet.returnCode = code;
  s.writePacket(packet);
}

/** Reattaches a persistent session's durable subscriptions and resends its PUBRELs ([MQTT-4.4.0-1]). */
function resume(s: MqttConnection, durables: readonly DurableSubscriptionInfo[], state: SessionState): void {
  for (const info of durables) {
    const parsed = readDurable(info);
    if (parsed === undefined) continue;
    let subscription = s.subscriptions.get(parsed.filter);
    if (subscription === undefined) {
      subscription = { key: parsed.filter, qos: parsed.qos, noLocal: parsed.noLocal, retainAsPublished: parsed.rap, subscriptionId: parsed.subscriptionId, consumers: [], durableNames: [] };
      s.ownSubscriptions().set(parsed.filter, subscription);
    }
    const filter = parseFilter(parsed.filter);
    if (filter.patterns[parsed.part] === undefined) continue;
    openConsumer(s, subscription, filter, parsed.part, { name: info.name, adapterData: info.adapterData ?? '' }, 'none');
  }
  // after a broker restart only the journal knows which PUBRELs are owed
  for (const id of owedPubrels(s.requireCore())) state.awaitingComplete.add(Number(id));
  if (state.awaitingCompleteCount === 0) return;
  // the connection before may have gone with its PUBRELs still waiting for their sync
  const owed = [...state.awaitingComplete];
  afterDurable(s, s.requireCore().synced(), () => {
    for (const id of owed) if (state.awaitingComplete.has(id)) s.write(encodeAck('pubrel', id, 0, s.version === 5));
  });
}

function startKeepAlive(s: MqttConnection, seconds: number): void {
  // [MQTT-3.1.2-24]: one and a half keep-alive periods of silence close the connection
  s.keepAliveLimit = seconds * 1000 * s.options.keepAliveGrace;
  s.keepAlive.watch(s);
}

/** A newer connection with this client id took over: tell this client (MQTT 5) and go. */
function onEvicted(s: MqttConnection): void {
  s.evicted = true;
  if (s.version === 5) s.writePacket({ cmd: 'disconnect', reasonCode: Reason.sessionTakenOver });
  s.closing = true;
  s.end();
  release(s, true);
}
