import { z } from 'zod';

const port = z.number().int().min(0).max(65535);
const positiveInt = z.number().int().positive();
const milliseconds = z.number().int().min(0);

const listener = (defaultPort: number) =>
  z
    .object({
      /** false switches the listener off. */
      enabled: z.boolean().default(true),
      host: z.string().min(1).default('0.0.0.0'),
      /** 0 picks a free port; the log says which. */
      port: port.default(defaultPort),
    })
    .strict()
    .default({});

const destinationName = z.string().min(1).max(1024);

const policyRule = z
  .object({
    /** Destination names the rule applies to, with wildcards `*` and `>`. */
    match: destinationName,
    kind: z.enum(['queue', 'topic']).optional(),
    maxRedeliveries: z.number().int().min(-1).optional(),
    redeliveryDelay: milliseconds.optional(),
    backoffMultiplier: z.number().min(1).optional(),
    maxRedeliveryDelay: milliseconds.optional(),
    deadLetterQueue: destinationName.optional(),
    individualDeadLetter: z.boolean().optional(),
    individualDeadLetterPrefix: destinationName.optional(),
    deadLetterNonPersistent: z.boolean().optional(),
    expiredToDeadLetter: z.boolean().optional(),
    lastValueKey: z.string().min(1).optional(),
    duplicateWindow: z.number().int().min(1).optional(),
  })
  .strict();

const composite = z
  .object({
    name: destinationName,
    kind: z.enum(['queue', 'topic']).default('queue'),
    /** Each `queue://NAME` or `topic://NAME`. */
    forwardTo: z.array(z.string().regex(/^(queue|topic):\/\/.+/, 'each target is queue://NAME or topic://NAME')).min(1),
    forwardOnly: z.boolean().default(true),
  })
  .strict();

/**
 * The whole configuration, with every default. Each key is documented in the README's
 * configuration section; a test checks that every key here appears there.
 */
export const configSchema = z
  .object({
    broker: z
      .object({
        name: z.string().min(1).regex(/^[A-Za-z0-9._-]+$/, 'use letters, digits, dot, dash or underscore').default('ferry'),
        autoCreateDestinations: z.boolean().default(true),
      })
      .strict()
      .default({}),
    destinations: z
      .object({
        /** How often waiting messages are checked for expiry (ms). */
        expirySweepInterval: positiveInt.default(1000),
        /** Redelivery, dead-letter, last-value and duplicate-detection settings by destination name; later rules override earlier ones. */
        policies: z.array(policyRule).default([]),
        /** Destinations that forward what is sent to them. */
        composites: z.array(composite).default([]),
        virtualTopics: z
          .object({
            enabled: z.boolean().default(true),
            prefix: z.string().min(1).default('VirtualTopic.'),
            consumerPrefix: z.string().min(1).default('Consumer.'),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    /** Folder for the broker's data (the journal, once a persistent store is chosen). */
    data: z.string().min(1).default('./data'),
    store: z
      .object({
        /** journal: on disk in <data>/journal, survives restarts and crashes. memory: nothing survives the process. */
        type: z.enum(['journal', 'memory']).default('journal'),
        /** Bytes of persistent message bodies kept in memory; past it, bodies wait in the journal until near the head of their queue. */
        bodyCacheSize: z.number().int().min(0).default(256 * 1024 * 1024),
        journal: z
          .object({
            segmentSize: z.number().int().min(64 * 1024).default(32 * 1024 * 1024),
            /** fdatasync before a persistent message is acknowledged; false trades power-loss safety for speed. */
            syncOnWrite: z.boolean().default(true),
            compactBelow: z.number().min(0).max(1).default(0.3),
            compactInterval: milliseconds.default(30_000),
            /** Open a journal damaged in the middle by dropping the rest of the damaged segment. */
            repair: z.boolean().default(false),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    log: z
      .object({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      })
      .strict()
      .default({}),
    listeners: z
      .object({
        stomp: listener(61613),
        http: listener(8161),
        amqp: listener(5672),
        mqtt: listener(1883),
        /** STOMP and MQTT over WebSocket, told apart by subprotocol. */
        websocket: listener(61614),
      })
      .strict()
      .default({}),
    transport: z
      .object({
        writeHighWaterMark: positiveInt.default(256 * 1024),
      })
      .strict()
      .default({}),
    websocket: z
      .object({
        /** Largest WebSocket message a client may send (bytes); larger closes the connection with 1009. */
        maxPayload: positiveInt.default(16 * 1024 * 1024),
        /** ms between pings; a client that has not answered the previous one is dropped. 0: no pings. */
        pingInterval: milliseconds.default(30_000),
        /** ms a client has to send its upgrade request after connecting. */
        handshakeTimeout: positiveInt.default(10_000),
      })
      .strict()
      .default({}),
    stomp: z
      .object({
        maxFrameSize: positiveInt.default(10 * 1024 * 1024),
        maxHeaderSize: positiveInt.default(64 * 1024),
        maxHeaders: positiveInt.default(1000),
        maxSubscriptions: positiveInt.default(10_000),
        connectTimeout: positiveInt.default(10_000),
        heartbeatSend: milliseconds.default(1000),
        heartbeatReceive: milliseconds.default(1000),
        heartbeatGrace: z.number().min(1).default(1.5),
        defaultPrefetch: positiveInt.default(1000),
      })
      .strict()
      .default({}),
    amqp: z
      .object({
        /** AMQP's smallest allowed max-frame-size is 512 bytes. */
        maxFrameSize: z.number().int().min(512).max(0xffffffff).default(256 * 1024),
        maxMessageSize: positiveInt.default(10 * 1024 * 1024),
        maxSessions: z.number().int().min(1).max(65536).default(256),
        maxLinks: positiveInt.default(10_000),
        idleTimeout: milliseconds.default(30_000),
        openTimeout: positiveInt.default(10_000),
        producerCredit: positiveInt.default(1000),
        sessionWindow: positiveInt.default(4096),
      })
      .strict()
      .default({}),
    mqtt: z
      .object({
        maxPacketSize: z.number().int().min(64).max(268_435_455).default(10 * 1024 * 1024),
        connectTimeout: positiveInt.default(10_000),
        /** A client silent for its keep-alive times this is disconnected. */
        keepAliveGrace: z.number().min(1).default(1.5),
        /** Seconds; a longer keep-alive (or none) is replaced by this one for MQTT 5 clients. 0: no limit. */
        maxKeepAlive: z.number().int().min(0).max(65535).default(0),
        /** Unacknowledged QoS 1/2 messages in flight to an MQTT 3.1.1 client (MQTT 5 clients set Receive Maximum). */
        maxInflight: z.number().int().min(1).max(65535).default(1000),
        /** Unacknowledged QoS 1/2 publishes an MQTT 5 client may have in flight to the broker. */
        receiveMaximum: z.number().int().min(1).max(65535).default(1000),
        topicAliasMaximum: z.number().int().min(0).max(65535).default(100),
        /** Seconds; 4294967295 keeps sessions for ever. */
        maxSessionExpiry: z.number().int().min(0).max(0xffffffff).default(0xffffffff),
        maxSubscriptions: positiveInt.default(10_000),
        /** Milliseconds between $SYS/broker/... statistics; 0 switches them off. */
        sysInterval: milliseconds.default(10_000),
      })
      .strict()
      .default({}),
  })
  .strict();

export type FerryConfig = z.infer<typeof configSchema>;
