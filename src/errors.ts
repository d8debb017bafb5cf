/**
 * Every error Ferry raises on purpose is a FerryError with a stable code from this table. Protocol
 * adapters map codes to their wire errors; nothing matches on message text. docs/errors.md lists the
 * same codes, and a test keeps the two in step.
 */
export const errorCodes = {
  FERRY_CONFIG_INVALID: 'the configuration file or an option has a key with a bad value',
  FERRY_CONFIG_UNREADABLE: 'the configuration file cannot be read or is not YAML',
  FERRY_DESTINATION_INVALID: 'a destination name is empty, malformed, or uses a wildcard where none is allowed',
  FERRY_DESTINATION_NOT_FOUND: 'the destination does not exist and may not be created on first use (for example a deleted temporary queue), or a consumer\'s queue was deleted',
  FERRY_CONSUMER_EXISTS: 'a consumer with this id is already open, or a durable subscription already has its subscriber',
  FERRY_CONSUMER_NOT_FOUND: 'an acknowledgement or unsubscribe names a consumer that is not open',
  FERRY_DELIVERY_NOT_FOUND: 'an acknowledgement names a message that is not in flight to this consumer',
  FERRY_SELECTOR_INVALID: 'a message selector that does not parse; the message points at the error',
  FERRY_TX_NOT_FOUND: 'a transaction id that was never begun, or has already ended',
  FERRY_TX_EXISTS: 'a transaction id that is already in progress on this connection',
  FERRY_TX_STATE: 'the transaction is not in a state that allows this: a second-phase commit of one not prepared, a prepare of one already prepared',
  FERRY_CLIENT_ID_IN_USE: 'another connection already holds this client id',
  FERRY_CLIENT_ID_REQUIRED: 'the operation belongs to a client id, and the connection has none',
  FERRY_CONNECTION_CLOSED: 'the connection was closed while the operation was under way',
  FERRY_BROKER_NOT_STARTED: 'the broker has not finished starting and accepts no work yet',
  FERRY_BROKER_STOPPING: 'the broker is shutting down and accepts no new work',
  FERRY_AUTHENTICATION_FAILED: 'the client could not be authenticated: unknown user, wrong password, or no credentials where they are required',
  FERRY_DIRECTORY_UNAVAILABLE: 'a login refused because a user directory (LDAP) could not answer: down, unreachable, slower than its timeout, or refusing the search account; no password was judged, and the client may try again later',
  FERRY_SASL_MALFORMED: 'a SASL message that breaks its mechanism\'s rules (a SCRAM message out of order, with a bad attribute, nonce or encoding)',
  FERRY_NOT_AUTHORIZED: 'the client is authenticated but may not do this to this destination',
  FERRY_CROSS_SITE_REQUEST: 'a request to change something that a browser says comes from a page of another site (management API, CSRF): refused with HTTP 403',
  FERRY_HOST_NOT_ALLOWED: 'a management request without credentials addressed to a host name that is not an IP address, localhost or in http.allowedHosts (a page whose DNS name was pointed at the broker, DNS rebinding): refused with HTTP 403',
  FERRY_INTERNAL: 'an unexpected failure inside the broker (a bug, logged with its stack): the connection concerned is closed, everyone else carries on',
  FERRY_STORE_FAILED: 'the store could not write or sync a record, or holds data a newer Ferry wrote (a later journal format or PostgreSQL schema: the start is refused and the data left as it is); the journal retries such a write (EIO, a fenced HA primary) and refuses persistent sends with this code meanwhile',
  FERRY_STORE_FULL: 'a persistent message refused because the journal cannot take it now: its writes fail for lack of space (ENOSPC, EDQUOT; they are retried), it is at store.journal.maxSize, or its disk is under store.journal.minFreeDisk; consumers go on',
  FERRY_DESTINATION_FULL: 'a send refused because its queue holds its policy\'s memoryLimit of waiting messages (or all queues together hold limits.messageMemory) and its memoryPolicy is fail; consumers go on, and sends are taken again once they have made room',
  FERRY_LIMIT_EXCEEDED: 'a configured limit refused this: connections per user (limits.connectionsPerUser, limits.anonymousConnections), destinations (limits.maxDestinations), consumers of one destination (limits.maxConsumersPerDestination) or consumers on one connection (limits.maxSubscriptionsPerConnection)',
  FERRY_SLOW_CONSUMER: 'a topic subscriber that kept more messages waiting than its pendingMessageLimit for longer than slowConsumerGrace (slowConsumerPolicy abort): its connection is closed',
  FERRY_STORE_LOCKED: 'another running broker holds the data folder',
  FERRY_HA_FENCED: 'this broker can no longer be sure it holds the shared folder\'s lease (it was paused or cut off past the lease duration, or a backup took over): it writes nothing more and stops',
  FERRY_HA_BACKUP: 'the broker is a backup waiting for the lease on the shared folder; the management port answers every request with HTTP 503 and this code',
  FERRY_STORE_CORRUPT: 'the store found a record that does not check out, or a journal segment file it wrote and never deleted is missing',
  FERRY_STOMP_BAD_FRAME: 'a STOMP frame that does not parse: unknown command, bad header line, bad escape, missing NUL',
  FERRY_STOMP_FRAME_TOO_LARGE: 'a STOMP frame body larger than stomp.maxFrameSize',
  FERRY_STOMP_HEADER_TOO_LARGE: 'a STOMP header block larger than stomp.maxHeaderSize, or more headers than stomp.maxHeaders',
  FERRY_STOMP_NOT_CONNECTED: 'a STOMP frame other than CONNECT or STOMP before the connection is established',
  FERRY_STOMP_PROTOCOL: 'a STOMP frame that parses but breaks the protocol: missing required header, unsupported version, bad value',
  FERRY_STOMP_CONNECT_TIMEOUT: 'a STOMP client that opened a socket and sent no CONNECT frame in time',
  FERRY_STOMP_HEARTBEAT_TIMEOUT: 'a STOMP client that stopped sending anything for longer than its negotiated heart-beat allows',
  FERRY_AMQP_FRAMING: 'bytes that are not AMQP 1.0 framing: a wrong protocol header, a frame size under 8 bytes or over amqp.maxFrameSize, a bad data offset or frame type',
  FERRY_AMQP_DECODE: 'an AMQP frame, performative or message payload that does not decode as AMQP 1.0 types',
  FERRY_AMQP_PROTOCOL: 'an AMQP frame that decodes but breaks the protocol: a transfer without link credit, a message over amqp.maxMessageSize, an unsupported message format or terminus',
  FERRY_AMQP_OPEN_TIMEOUT: 'an AMQP client that connected and did not finish SASL and open in time',
  FERRY_WEBSOCKET_PROTOCOL: 'a WebSocket data frame its subprotocol does not allow: a text frame where MQTT or AMQP allow only binary ones',
  FERRY_MQTT_MALFORMED: 'an MQTT packet that does not parse: bad fixed header, remaining length, string, property or reason code',
  FERRY_MQTT_PACKET_TOO_LARGE: 'an MQTT packet larger than mqtt.maxPacketSize',
  FERRY_MQTT_NOT_CONNECTED: 'an MQTT packet other than CONNECT as the first packet of a connection',
  FERRY_MQTT_PROTOCOL: 'an MQTT packet that parses but breaks the protocol: a second CONNECT, a server packet, no-local on a shared subscription, a DISCONNECT that sets a session expiry the CONNECT had not',
  FERRY_MQTT_TOPIC_ALIAS_INVALID: 'an MQTT 5 PUBLISH with a topic alias of 0, over the broker\'s Topic Alias Maximum, or never set on the connection',
  FERRY_MQTT_RECEIVE_MAXIMUM_EXCEEDED: 'an MQTT 5 client with more QoS 1 and 2 publishes unacknowledged (QoS 2: not completed) than the Receive Maximum the broker gave it',
  FERRY_MQTT_UNSUPPORTED_VERSION: 'an MQTT CONNECT with a protocol level other than 3 (3.1), 4 (3.1.1) or 5 (5.0)',
  FERRY_MQTT_BAD_AUTH_METHOD: 'an MQTT 5 CONNECT naming an authentication method the broker does not offer to that client (SCRAM-SHA-256 is run over AUTH; PLAIN travels as user name and password), or an AUTH naming another method than the CONNECT did',
  FERRY_MQTT_CONNECT_TIMEOUT: 'an MQTT client that opened a socket and sent no CONNECT packet in time',
  FERRY_MQTT_PAYLOAD_FORMAT_INVALID: 'an MQTT 5 PUBLISH or will whose Payload Format Indicator says UTF-8 text and whose payload is not valid UTF-8',
  FERRY_MQTT_KEEPALIVE_TIMEOUT: 'an MQTT client silent for longer than one and a half times its keep-alive',
  FERRY_OPENWIRE_MALFORMED: 'an OpenWire command that does not decode: unknown data structure type, a structure of another type where an id, destination or message belongs, a field that ends early, bytes left over, a bad string or a body that does not inflate',
  FERRY_OPENWIRE_FRAME_TOO_LARGE: 'an OpenWire command whose size prefix is over openwire.maxFrameSize (refused from the prefix, before its bytes are read)',
  FERRY_OPENWIRE_BODY_TOO_LARGE: 'an OpenWire message whose compressed body inflates past openwire.maxFrameSize, which it could not have been sent as uncompressed: the send is refused (ExceptionResponse), inflating no further, and the connection carries on',
  FERRY_OPENWIRE_PROTOCOL: 'an OpenWire command that decodes but breaks the protocol: a command before WireFormatInfo or ConnectionInfo, an unsupported version, a command only a broker sends, an id of another connection',
  FERRY_OPENWIRE_INACTIVITY: 'an OpenWire client that sent nothing, not even a KeepAliveInfo, for longer than the negotiated MaxInactivityDuration, or no WireFormatInfo in time',
  FERRY_NETWORK_LINK: 'a network connector\'s link to its neighbour broker failed: refused, closed, or answered with an ERROR frame; the connector reconnects with back-off',
  FERRY_AMQP091_FRAMING: 'bytes that are not AMQP 0-9-1 framing: a frame over the negotiated frame-max (refused from its size, before its payload is read), a frame end other than 0xCE, an unknown frame type (connection exception 501)',
  FERRY_AMQP091_SYNTAX: 'an AMQP 0-9-1 method or content header whose fields do not decode: a field past the end of its frame, an unknown field-table type, a short string over 255 bytes (connection exception 502)',
  FERRY_AMQP091_PROTOCOL: 'an AMQP 0-9-1 frame that decodes but breaks the protocol: an unknown class or method (540), a method only a server sends (503), a frame on a channel not open (504), content where none is expected (505), an unknown delivery tag (406); the reply code says which',
  FERRY_AMQP091_HEARTBEAT_TIMEOUT: 'an AMQP 0-9-1 client silent for two negotiated heartbeat intervals, or that did not finish the handshake in amqp091.handshakeTimeout',
  FERRY_PRECONDITION_FAILED: 'a declaration of an exchange or queue that exists with another type, flags or arguments, bad queue arguments, or a delete whose if-unused or if-empty condition does not hold (AMQP 0-9-1 precondition-failed, 406)',
  FERRY_RESOURCE_LOCKED: 'an exclusive queue that another connection declared and owns (AMQP 0-9-1 resource-locked, 405)',
  FERRY_QUEUE_IN_USE: 'a consumer asking to be the only one on a queue that has consumers, or any consumer of a queue that has such a one (AMQP 0-9-1 exclusive consume; access-refused, 403)',
  FERRY_QUEUE_LOADING: 'a queue\'s messages were asked to be browsed, listed, moved, copied or deleted one by one while the broker, started or taken over with a large backlog (store.loadInBackgroundAbove), is still putting them back from the store; sends, consumers, purges and deletes are taken meanwhile (management API: HTTP 503)',
  FERRY_NAME_RESERVED: 'declaring or deleting an exchange or queue whose name begins with "amq.", or binding to or deleting the default exchange: only the broker may (AMQP 0-9-1 access-refused, 403)',
  FERRY_NOT_SUPPORTED: 'a request for something Ferry does not do, refused in the protocol\'s terms without closing the connection: deleting an ordinary destination over OpenWire',
  FERRY_BAD_REQUEST: 'a management API request that cannot be acted on: a body that is not JSON or lacks a field, a bad query parameter (HTTP 400)',
  FERRY_NOT_FOUND: 'a management API request for something that does not exist: a message, connection, durable subscription or scheduled job, or an unknown route (HTTP 404)',
  FERRY_CONFLICT: 'a management API request that clashes with what exists: creating a destination that is already there (HTTP 409)',
  FERRY_METHOD_NOT_ALLOWED: 'a management API request with a method the route does not answer (HTTP 405)',
  FERRY_CLI_USAGE: 'a ferry command line that names an unknown option, misses an argument or gives a bad value, or a file it reads that is not what it should be (exit status 1)',
  FERRY_CLI_UNREACHABLE: 'a ferry tool cannot reach the broker: nothing listens at the URL, the address does not resolve, or the connection drops (exit status 2)',
  FERRY_CLI_UNTRUSTED: 'a ferry tool reached the broker over TLS but does not trust its certificate: signed by an authority it does not know (give it with --ca), issued for another name, or expired (exit status 2)',
} as const;

export type ErrorCode = keyof typeof errorCodes;

export class FerryError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'FerryError';
  }
}

export function isFerryError(err: unknown, code?: ErrorCode): err is FerryError {
  return err instanceof FerryError && (code === undefined || err.code === code);
}

/**
 * True for a refusal because the store takes no writes now (full, or failing and retrying): the
 * acknowledgements of earlier frames wait behind the same failure, for as long as it lasts, so an
 * answer that would wait for them goes out at once instead.
 */
export function isStoreRefusal(err: unknown): boolean {
  return isFerryError(err, 'FERRY_STORE_FULL') || isFerryError(err, 'FERRY_STORE_FAILED');
}

/**
 * What a log line says of an error: a FerryError's code and text (a client's mistake or a known
 * condition, where a stack would only say where Ferry noticed it), anything else whole with its
 * stack (Ferry's own fault, which the stack finds).
 */
export function errorFields(err: unknown): { code: ErrorCode; message: string } | { err: unknown } {
  return isFerryError(err) ? { code: err.code, message: err.message } : { err };
}
