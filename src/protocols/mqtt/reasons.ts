import { isFerryError, type ErrorCode } from '../../errors.js';

/** MQTT 5 reason codes (section 2.4) used here. */
export const Reason = {
  success: 0x00,
  noMatchingSubscribers: 0x10,
  noSubscriptionExisted: 0x11,
  unspecified: 0x80,
  malformed: 0x81,
  protocolError: 0x82,
  implementationSpecific: 0x83,
  unsupportedVersion: 0x84,
  clientIdNotValid: 0x85,
  badUserNameOrPassword: 0x86,
  notAuthorized: 0x87,
  serverUnavailable: 0x88,
  serverShuttingDown: 0x8b,
  badAuthenticationMethod: 0x8c,
  keepAliveTimeout: 0x8d,
  sessionTakenOver: 0x8e,
  topicFilterInvalid: 0x8f,
  topicNameInvalid: 0x90,
  packetIdNotFound: 0x92,
  receiveMaximumExceeded: 0x93,
  topicAliasInvalid: 0x94,
  packetTooLarge: 0x95,
  quotaExceeded: 0x97,
  administrativeAction: 0x98,
  payloadFormatInvalid: 0x99,
  sharedNotSupported: 0x9e,
} as const;

/** CONNACK return codes of MQTT 3.1 and 3.1.1. */
export const LegacyConnack = { accepted: 0, badVersion: 1, identifierRejected: 2, serverUnavailable: 3, badUserNameOrPassword: 4, notAuthorized: 5 } as const;

/** How an error reaches an MQTT client. */
export interface MqttReason {
  /** MQTT 5 reason code of the DISCONNECT that closes the connection, or of a refusing PUBACK/PUBREC. */
  readonly disconnect: number;
  /** MQTT 5 reason code of a CONNACK that refuses the connection (DISCONNECT and CONNACK allow different codes). */
  readonly connack: number;
  /** MQTT 3.1 and 3.1.1 CONNACK return code; undefined where 3.1.1 has none and just closes the connection. */
  readonly legacyConnack: number | undefined;
  /** Bad input from the client, logged at warn (without a stack); the rest at debug. */
  readonly badInput: boolean;
}

function reason(disconnect: number, connack: number, legacyConnack: number | undefined, badInput: boolean): MqttReason {
  return { disconnect, connack, legacyConnack, badInput };
}

/** Every error code that reaches an MQTT client, with what it becomes; one table for every packet that carries one. */
const reasons: { readonly [C in ErrorCode]?: MqttReason } = {
  FERRY_MQTT_MALFORMED: reason(Reason.malformed, Reason.malformed, undefined, true),
  FERRY_MQTT_PROTOCOL: reason(Reason.protocolError, Reason.protocolError, undefined, true),
  FERRY_MQTT_NOT_CONNECTED: reason(Reason.protocolError, Reason.protocolError, undefined, true),
  FERRY_MQTT_PACKET_TOO_LARGE: reason(Reason.packetTooLarge, Reason.packetTooLarge, undefined, true),
  FERRY_MQTT_TOPIC_ALIAS_INVALID: reason(Reason.topicAliasInvalid, Reason.protocolError, undefined, true),
  FERRY_MQTT_RECEIVE_MAXIMUM_EXCEEDED: reason(Reason.receiveMaximumExceeded, Reason.protocolError, undefined, true),
  FERRY_MQTT_UNSUPPORTED_VERSION: reason(Reason.unsupportedVersion, Reason.unsupportedVersion, LegacyConnack.badVersion, true),
  // DISCONNECT has no 0x8C: a re-authentication naming another method breaks [MQTT-4.12.1-1], a protocol error
  FERRY_MQTT_BAD_AUTH_METHOD: reason(Reason.protocolError, Reason.badAuthenticationMethod, undefined, true),
  // a PUBACK or PUBREC may refuse one such message; a QoS 0 one ends the connection (3.3.2.3.2, 4.13)
  FERRY_MQTT_PAYLOAD_FORMAT_INVALID: reason(Reason.payloadFormatInvalid, Reason.payloadFormatInvalid, undefined, true),
  FERRY_MQTT_KEEPALIVE_TIMEOUT: reason(Reason.keepAliveTimeout, Reason.keepAliveTimeout, undefined, false),
  FERRY_MQTT_CONNECT_TIMEOUT: reason(Reason.protocolError, Reason.protocolError, undefined, false),
  FERRY_DESTINATION_INVALID: reason(Reason.topicNameInvalid, Reason.topicNameInvalid, undefined, true),
  FERRY_CLIENT_ID_REQUIRED: reason(Reason.clientIdNotValid, Reason.clientIdNotValid, LegacyConnack.identifierRejected, true),
  // DISCONNECT has no 0x86: a failed re-authentication ([MQTT-4.12.1-2]) is "not authorized"
  FERRY_AUTHENTICATION_FAILED: reason(Reason.notAuthorized, Reason.badUserNameOrPassword, LegacyConnack.badUserNameOrPassword, true),
  // the user directory did not answer: no password was judged, so the client hears "server
  // unavailable", which MQTT clients retry, not "bad user name or password", which many give up on
  FERRY_DIRECTORY_UNAVAILABLE: reason(Reason.unspecified, Reason.serverUnavailable, LegacyConnack.serverUnavailable, false),
  // a SCRAM message that breaks its rules tells the client no more than a wrong password does
  FERRY_SASL_MALFORMED: reason(Reason.notAuthorized, Reason.badUserNameOrPassword, LegacyConnack.badUserNameOrPassword, true),
  FERRY_NOT_AUTHORIZED: reason(Reason.notAuthorized, Reason.notAuthorized, LegacyConnack.notAuthorized, true),
  FERRY_BROKER_STOPPING: reason(Reason.serverShuttingDown, Reason.serverUnavailable, LegacyConnack.serverUnavailable, false),
  // reaches a DISCONNECT only when the broker closed the connection under the session: an operator's `ferry close-connection`
  FERRY_CONNECTION_CLOSED: reason(Reason.administrativeAction, Reason.serverUnavailable, LegacyConnack.serverUnavailable, false),
  // a PUBACK may say 0x97 (quota exceeded) of one message and the connection goes on
  FERRY_SLOW_CONSUMER: reason(Reason.quotaExceeded, Reason.serverUnavailable, LegacyConnack.serverUnavailable, false),
  FERRY_STORE_FULL: reason(Reason.quotaExceeded, Reason.serverUnavailable, LegacyConnack.serverUnavailable, false),
  FERRY_DESTINATION_FULL: reason(Reason.quotaExceeded, Reason.quotaExceeded, LegacyConnack.serverUnavailable, false),
  FERRY_LIMIT_EXCEEDED: reason(Reason.quotaExceeded, Reason.quotaExceeded, LegacyConnack.serverUnavailable, false),
};

/** Anything else, an internal error included. */
const OTHER = reason(Reason.unspecified, Reason.serverUnavailable, LegacyConnack.serverUnavailable, false);

export function mqttReasonOf(err: unknown): MqttReason {
  return (isFerryError(err) ? reasons[err.code] : undefined) ?? OTHER;
}

/** Reason codes a PUBACK or PUBREC may carry (3.4.2.1, 3.5.2.1). */
const ACK_REASONS: ReadonlySet<number> = new Set([0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]);

/** The reason code of a PUBACK or PUBREC refusing one message: the table's, where an acknowledgement may carry it. */
export function ackReasonOf(err: unknown): number {
  const code = mqttReasonOf(err).disconnect;
  return ACK_REASONS.has(code) ? code : Reason.unspecified;
}
