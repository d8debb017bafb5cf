import type { IAuthPacket } from 'mqtt-packet';
import { FerryError } from '../../errors.js';
import type { SaslExchange, SaslStep, TransportFacts } from '../../core/index.js';
import type { EnhancedAuth, MqttConnection } from './connection.js';

/**
 * MQTT 5 enhanced authentication ([MQTT 4.12]): a CONNECT naming an Authentication Method runs
 * the broker's SASL exchange for it (SCRAM-SHA-256), its challenges going out in AUTH 0x18 and
 * the client's answers coming back in AUTH 0x18, until CONNACK carries the final data; AUTH 0x19
 * starts the same again on a live connection (re-authentication, [MQTT 4.12.1]), which goes on
 * delivering meanwhile and ends with AUTH 0x00. PLAIN and ANONYMOUS are not run here: MQTT carries
 * them as the CONNECT's user name and password.
 */

const AuthReason = { success: 0x00, continue: 0x18, reauthenticate: 0x19 } as const;

/** Methods MQTT has its own fields for. */
const NOT_OVER_AUTH: ReadonlySet<string> = new Set(['PLAIN', 'ANONYMOUS']);

function facts(s: MqttConnection): TransportFacts {
  return { remoteAddress: s.transport.remoteAddress, peerCertificate: s.transport.peerCertificate };
}

/** The broker's exchange for `method`, or FERRY_MQTT_BAD_AUTH_METHOD when it offers none here. */
function exchangeFor(s: MqttConnection, method: string): SaslExchange {
  const offered = s.broker.saslMechanisms(facts(s)).filter((m) => !NOT_OVER_AUTH.has(m));
  const exchange = offered.includes(method) ? s.broker.startSasl(method, facts(s)) : undefined;
  if (exchange === undefined) {
    const choice = offered.length === 0 ? 'none is offered here' : `offered: ${offered.join(', ')}`;
    throw new FerryError('FERRY_MQTT_BAD_AUTH_METHOD', `authentication method "${method}" is not supported (${choice}; PLAIN travels as the user name and password)`);
  }
  return exchange;
}

/**
 * Runs a CONNECT's exchange: `proved` gets the final data once the client is proved (then the
 * connect goes on, its credentials the exchange), `failed` the refusal. What the client sends while
 * the broker works on a step waits, unread, as it does while a connect is decided.
 */
export function startConnectAuth(s: MqttConnection, method: string, data: Buffer | undefined, proved: (exchange: SaslExchange, finalData: Buffer | undefined) => void, failed: (err: unknown) => void): void {
  let exchange: SaslExchange;
  try {
    exchange = exchangeFor(s, method);
  } catch (err) {
    failed(err);
    return;
  }
  s.authMethod = method;
  s.auth = { phase: 'connect', exchange, awaiting: 'broker', proved: (final) => proved(exchange, final), failed };
  // the exchange shares the time a client has to be connected
  s.connectTimer = setTimeout(() => {
    s.fail(new FerryError('FERRY_MQTT_CONNECT_TIMEOUT', `the ${method} exchange did not finish within ${s.options.connectTimeout} ms (mqtt.connectTimeout)`));
  }, s.options.connectTimeout);
  step(s, s.auth, data);
}

/** An AUTH packet from the client, before CONNACK or after. */
export function onAuth(s: MqttConnection, packet: IAuthPacket): void {
  const method = packet.properties?.authenticationMethod;
  const data = packet.properties?.authenticationData;
  if (s.authMethod === undefined) throw new FerryError('FERRY_MQTT_PROTOCOL', 'AUTH without an authentication method in CONNECT');
  // [MQTT-4.12.1-1]: re-authentication keeps the CONNECT's method; [MQTT-3.15.2-1] AUTH names it
  if (method !== s.authMethod) throw new FerryError('FERRY_MQTT_BAD_AUTH_METHOD', `AUTH names method "${method ?? ''}", not the CONNECT's "${s.authMethod}"`);
  const auth = s.auth;
  if (packet.reasonCode === AuthReason.continue) {
    if (auth === undefined || auth.awaiting !== 'client') throw new FerryError('FERRY_MQTT_PROTOCOL', 'AUTH 0x18 (continue) when no challenge is waiting for an answer');
    step(s, auth, data);
    return;
  }
  if (packet.reasonCode === AuthReason.reauthenticate) {
    if (s.core === undefined) throw new FerryError('FERRY_MQTT_PROTOCOL', 'AUTH 0x19 (re-authenticate) before CONNACK');
    if (auth !== undefined) throw new FerryError('FERRY_MQTT_PROTOCOL', 'AUTH 0x19 (re-authenticate) while an exchange is under way');
    const exchange = exchangeFor(s, method);
    const core = s.core;
    const again: EnhancedAuth = {
      phase: 'reauthenticate',
      exchange,
      awaiting: 'broker',
      proved: (final) => {
        core.reauthenticate({ exchange }).then(
          () => {
            if (s.closing || s.core !== core) return;
            s.auth = undefined;
            writeAuth(s, AuthReason.success, final);
          },
          (err: unknown) => s.fail(err),
        );
      },
      // [MQTT-4.12.1-2]: a failed re-authentication ends the connection
      failed: (err) => s.fail(err),
    };
    s.auth = again;
    step(s, again, data);
    return;
  }
  throw new FerryError('FERRY_MQTT_PROTOCOL', `AUTH 0x${packet.reasonCode.toString(16)} is a server's; a client sends 0x18 or 0x19`);
}

/** Hands the client's data to the exchange and sends back what comes of it. */
function step(s: MqttConnection, auth: EnhancedAuth, data: Buffer | undefined): void {
  auth.awaiting = 'broker';
  const holding = auth.phase === 'connect';
  if (holding) {
    s.held ??= [];
    s.transport.pause();
  }
  auth.exchange.respond(data ?? Buffer.alloc(0)).then(
    (result: SaslStep) => {
      if (s.closing || s.transport.closed || s.auth !== auth) return;
      if (!result.done) {
        auth.awaiting = 'client';
        writeAuth(s, AuthReason.continue, result.challenge);
        if (holding) s.replayHeld();
        return;
      }
      if (holding) {
        // the connect goes on from here; the timer of the exchange ends with it
        clearTimeout(s.connectTimer);
        s.connectTimer = undefined;
        s.auth = undefined;
      }
      auth.proved(result.additionalData);
    },
    (err: unknown) => {
      if (s.closing || s.transport.closed || s.auth !== auth) return;
      if (holding) {
        clearTimeout(s.connectTimer);
        s.connectTimer = undefined;
        s.held = undefined;
      }
      s.auth = undefined;
      auth.failed(err);
    },
  );
}

function writeAuth(s: MqttConnection, reasonCode: number, data: Buffer | undefined): void {
  s.writePacket({ cmd: 'auth', reasonCode, properties: { authenticationMethod: s.authMethod!, ...(data === undefined ? {} : { authenticationData: data }) } });
}
