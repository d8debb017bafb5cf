import { z } from 'zod';
import { protocolModules, type ProtocolName } from '../protocols/registry.js';
import { MAX_TIMER_DELAY } from '../transport/index.js';

const port = z.number().int().min(0).max(65535);
const positiveInt = z.number().int().positive();
/** A duration a timer waits: Node's timers take at most MAX_TIMER_DELAY (about 24.8 days), and fire at once past it. */
const milliseconds = z.number().int().min(0).max(MAX_TIMER_DELAY);

/**
 * A URL as node-postgres takes it. Anything else it would read as a path relative to a made-up
 * host, and fail only when it connects, with that host's name.
 */
function isPostgresUrl(url: string): boolean {
  // no host before the path is allowed: the unix socket's folder is then in ?host=
  return /^postgres(ql)?:\/\//i.test(url) && URL.canParse(url.replace('@/', '@localhost/'));
}

const listener = (defaultPort: number, enabled = true, host = '0.0.0.0') =>
  z
    .object({
      /** false switches the listener off. */
      enabled: z.boolean().default(enabled),
      host: z.string().min(1).default(host),
      /** 0 picks a free port; the log says which. */
      port: port.default(defaultPort),
      /** Open connections past which new ones are dropped as they come; 0: no limit (the management listeners: http.maxConnections). */
      maxConnections: z.number().int().min(0).default(0),
    })
    .strict()
    .default({});

/** A listener for each registered protocol, on its default port; off for a guest on another's listeners (AMQP 0-9-1). */
const protocolListeners = Object.fromEntries(protocolModules.map((m) => [m.name, listener(m.defaultPort, !('guestOf' in m))])) as { [K in ProtocolName]: ReturnType<typeof listener> };

/** A TLS listener for each registered protocol (`stompTls`, ...), off until switched on. */
const protocolTlsListeners = Object.fromEntries(protocolModules.map((m) => [`${m.name}Tls`, listener(m.defaultTlsPort, false)])) as {
  [K in ProtocolName as `${K}Tls`]: ReturnType<typeof listener>;
};

/** Each registered protocol's own section (`stomp`, `amqp`, `mqtt`), schema and defaults from its folder. */
const protocolSections = Object.fromEntries(protocolModules.map((m) => [m.name, m.optionsSchema])) as {
  [M in (typeof protocolModules)[number] as M['name']]: M['optionsSchema'];
};

const destinationName = z.string().min(1).max(1024);

/** A link to one neighbour broker, over STOMP (docs/network.md). */
const networkConnector = z
  .object({
    /** Names the connector in logs and statistics. */
    name: z.string().min(1).regex(/^[A-Za-z0-9._-]+$/, 'use letters, digits, dot, dash or underscore'),
    /** The neighbour's STOMP listeners, `stomp://host:port` or over TLS `ssl://host:port` (also `stomp+ssl://`), tried in turn. */
    uris: z.array(z.string().regex(/^(stomp|ssl|stomp\+ssl):\/\/[^/:]+:\d+$/, 'each is stomp://host:port or ssl://host:port')).min(1),
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    /** Destination names (wildcards `*` and `>`) that are forwarded; none listed: all. */
    include: z.array(destinationName).default([]),
    /** Destination names never forwarded; they win over `include`. */
    exclude: z.array(destinationName).default([]),
    /** How many brokers a message, and the demand for it, may pass through. */
    ttl: positiveInt.default(4),
    /** Messages in flight from the neighbour per forwarded destination. */
    prefetch: positiveInt.default(100),
    /** Subscribe on the neighbour below its own consumers' priority, so its local consumers go first. */
    localFirst: z.boolean().default(false),
    /** First wait before reconnecting (ms); it doubles on each failure up to `maxReconnectDelay`. */
    reconnectDelay: milliseconds.min(1).default(100),
    maxReconnectDelay: milliseconds.min(1).default(5000),
    /** STOMP heart-beat on the link (ms, both ways; 0: none): a cut link is found by its silence on both sides within about twice this. */
    heartbeat: milliseconds.default(1000),
    /**
     * One connection carries both directions: the neighbour also pulls from this broker over it,
     * with this connector's include, exclude, ttl, prefetch and localFirst (for a neighbour this
     * broker can reach but that cannot reach it: a firewall, a NAT).
     */
    duplex: z.boolean().default(false),
    /** For `ssl://` neighbours; PEM files relative to the configuration file. */
    tls: z
      .object({
        /** The authorities the neighbour's certificate is verified against; default the system's. */
        ca: z.string().min(1).optional(),
        /** A client certificate to present (a neighbour with security.certificateUsers takes it as the link user), and its key. */
        cert: z.string().min(1).optional(),
        key: z.string().min(1).optional(),
        /** The name the neighbour's certificate must carry; default the host of the URI. */
        servername: z.string().min(1).optional(),
        /** false accepts any certificate from the neighbour: for tests only. */
        verify: z.boolean().default(true),
      })
      .strict()
      .refine((t) => (t.cert === undefined) === (t.key === undefined), 'cert and key go together')
      .optional(),
  })
  .strict();

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
    /** Waiting messages past which a non-durable topic subscription is a slow consumer; 0: no limit (the default). */
    pendingMessageLimit: z.number().int().min(0).optional(),
    /** notify (the default): a log line and a count; abort: the connection is closed after slowConsumerGrace; evict-oldest: the oldest messages are dropped, persistent ones too. */
    slowConsumerPolicy: z.enum(['notify', 'abort', 'evict-oldest']).optional(),
    /** ms an abort slow consumer has to catch up (default 5000). */
    slowConsumerGrace: milliseconds.optional(),
    /** ms a delivery may stay unacknowledged before it returns to the queue as a counted redelivery; 0: no time-out (the default). */
    ackTimeout: milliseconds.optional(),
    /** Bytes a queue's waiting messages hold (bodies, headers and the objects around them) before memoryPolicy applies; 0: no limit (the default). */
    memoryLimit: z.number().int().min(0).optional(),
    /** page (the default): keep taking, persistent bodies (and past the limit, non-persistent ones sent to the queue) wait on disk; block: the queue's producers wait (producer flow control); fail: sends are refused (FERRY_DESTINATION_FULL); drop-oldest: the oldest waiting messages are discarded. */
    memoryPolicy: z.enum(['page', 'block', 'fail', 'drop-oldest']).optional(),
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

/** Group names given a right; `*` is every authenticated user (and the anonymous one, when there is one). */
const groups = z.array(z.string().min(1)).optional();

const authorizationEntry = z
  .object({
    /** Queue names the entry covers, with wildcards `*` and `>`; exactly one of queue, topic and temporary. */
    queue: destinationName.optional(),
    topic: destinationName.optional(),
    /** Temporary queues and topics. */
    temporary: z.literal(true).optional(),
    /** Consume: subscribe, receive, a durable subscription. */
    read: groups,
    /** Send, retained messages included. */
    write: groups,
    /** Bring the destination into being on first use, make a temporary one, make a durable subscription. */
    create: groups,
    browse: groups,
    /** Purge, delete (a durable subscription too), and the management API's other changes. */
    admin: groups,
  })
  .strict()
  .refine((e) => [e.queue, e.topic, e.temporary].filter((x) => x !== undefined).length === 1, 'each entry names exactly one of queue, topic or temporary');

const certificateUser = z
  .object({
    /** A regular expression on the certificate's subject (`CN=alice,O=Shop`); `$1` in user is its first group. */
    subject: z.string().min(1).optional(),
    /** A regular expression on one of its subject alternative names (`DNS:host`, `email:a@b`, `URI:...`). */
    san: z.string().min(1).optional(),
    user: z.string().min(1),
  })
  .strict()
  .refine((r) => (r.subject === undefined) !== (r.san === undefined), 'each rule matches either subject or san');

const ldap = z
  .object({
    url: z.string().regex(/^ldaps?:\/\//, 'an ldap:// or ldaps:// URL'),
    /** The account that searches for users; without it the search is anonymous. */
    bindDn: z.string().min(1).optional(),
    bindPassword: z.string().optional(),
    /** Where the search for the user looks; exactly one of userBase and userDn. */
    userBase: z.string().min(1).optional(),
    /** `{user}` is the login name, escaped. Default `(uid={user})`; only with userBase. */
    userFilter: z.string().min(1).optional(),
    /** The user's DN, `{user}` the login name escaped for a DN: logins bind as it, without a search. */
    userDn: z.string().min(1).optional(),
    groupBase: z.string().min(1).optional(),
    /** `{dn}` is the user's DN, `{user}` the login name. */
    groupFilter: z.string().min(1).default('(member={dn})'),
    groupAttribute: z.string().min(1).default('cn'),
    /** An attribute of the user's entry whose values are its groups' DNs (`memberOf`). */
    userGroupAttribute: z.string().min(1).optional(),
    /** Levels of groups within groups followed above the user's own groups; 0 follows none. */
    nestedGroupDepth: z.number().int().min(0).max(10).default(0),
    /** PEM file of the CA that signed the LDAP server's certificate, for ldaps:// and StartTLS. */
    ca: z.string().min(1).optional(),
    /** On an ldap:// URL, upgrade each connection with StartTLS ([RFC 4511] 4.14) before anything is sent. */
    startTls: z.boolean().default(false),
    timeout: milliseconds.min(1).default(5000),
    /** Logins that talk to the server at once (each on up to two connections); more wait their turn. */
    concurrentLogins: positiveInt.default(8),
  })
  .strict();

const security = z
  .object({
    /** The users file (YAML, written by `ferry user`); relative to the configuration file. Reloaded when it changes. */
    users: z.string().min(1).optional(),
    /**
     * A user whose groups anonymous clients get. Unset: with users configured, anonymous clients
     * are refused; with none, they are let in from loopback addresses only.
     */
    anonymous: z.string().min(1).optional(),
    /** Rights by destination. Absent: every authenticated client may do everything. Present: only what an entry grants. */
    authorization: z.array(authorizationEntry).optional(),
    /** How a verified client certificate names its user, first matching rule wins. */
    certificateUsers: z.array(certificateUser).default([]),
    /** A failed login from an address makes the next ones from it wait, doubling up to maxDelay. */
    failedLoginDelay: z
      .object({
        initial: milliseconds.default(200),
        max: milliseconds.default(10_000),
        /** ms after the last failure at which an address starts afresh. */
        forgetAfter: milliseconds.min(1).default(600_000),
      })
      .strict()
      .default({}),
    ldap: ldap.optional(),
  })
  .strict()
  .default({});

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
        expirySweepInterval: milliseconds.min(1).default(1000),
        /** Ms after which a topic with no subscription, no retained message and no message sent to it is forgotten, with its send count; 0: topics are kept for ever. */
        idleTopicTimeout: milliseconds.default(300_000),
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
        /** journal: on disk in <data>/journal, survives restarts and crashes. memory: nothing survives the process. postgres: in a PostgreSQL database (store.postgres). */
        type: z.enum(['journal', 'memory', 'postgres']).default('journal'),
        /** Bytes of persistent message bodies kept in memory; past it, bodies wait in the journal or the PostgreSQL database until near the head of their queue. */
        bodyCacheSize: z.number().int().min(0).default(256 * 1024 * 1024),
        /** Confirm a persistent message once its consumers have acknowledged it, if that comes before its write is synced (as ActiveMQ and RabbitMQ do); false: every confirm waits for the disk. */
        confirmConsumed: z.boolean().default(true),
        /**
         * Waiting messages in the store above which the broker opens its listeners before they are all
         * back in their queues: sends are taken at once, and each queue delivers once it is whole.
         */
        loadInBackgroundAbove: z.number().int().min(0).default(100_000),
        journal: z
          .object({
            segmentSize: z.number().int().min(64 * 1024).default(32 * 1024 * 1024),
            /** fdatasync before a persistent message is acknowledged; false trades power-loss safety for speed. */
            syncOnWrite: z.boolean().default(true),
            compactBelow: z.number().min(0).max(1).default(0.3),
            compactInterval: milliseconds.default(30_000),
            /** Open a journal damaged in the middle by dropping the damaged records (reported by id) and keeping the rest. */
            repair: z.boolean().default(false),
            /** Bytes of journal files past which persistent sends are refused (consumers go on); 0: no limit. */
            maxSize: z.number().int().min(0).default(0),
            /** Free bytes on the journal's disk under which persistent sends are refused (consumers go on); 0: not checked. */
            minFreeDisk: z.number().int().min(0).default(64 * 1024 * 1024),
            /**
             * Journal bytes written between two catalogs (the records a restart needs before it serves);
             * a restart or takeover reads about this much of the journal before it serves. 0: no catalog.
             */
            catalogEvery: z.number().int().min(0).default(64 * 1024 * 1024),
          })
          .strict()
          .default({}),
        postgres: z
          .object({
            /** Connection string of the database (docs/store-postgres.md); `?host=/dir` for a unix socket. */
            url: z
              .string()
              .refine(isPostgresUrl, 'a postgresql:// or postgres:// URL, as postgresql://user@host:5432/database')
              .default('postgresql://localhost:5432/ferry'),
            /** Connections kept open: commits use one at a time, recovery and reads the others. */
            poolSize: z.number().int().min(1).max(100).default(4),
            /** Ms a statement may go unanswered before it fails and its connection is closed; a failed commit is tried again. */
            queryTimeout: milliseconds.min(1).default(60_000),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    /** Primary and backup on one shared data folder (docs/ha.md). */
    ha: z
      .object({
        /** off: this broker owns its folder alone. auto: take the folder's lease, or wait as a backup until it is free. */
        role: z.enum(['off', 'auto']).default('off'),
        /** How long the lease lasts unrenewed (ms): a backup takes over this long after the primary's last renewal; renewed every third of it. */
        leaseDuration: milliseconds.refine((ms) => ms >= 300, 'at least 300 ms').default(5000),
        /** true: this is the preferred primary; restarted while another broker holds the lease, it asks for it back, and the holder hands it over cleanly and becomes the backup. false: it stays the backup. */
        failback: z.boolean().default(false),
      })
      .strict()
      .default({}),
    log: z
      .object({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
        /**
         * A file the log's JSON lines are appended to instead of standard output, relative to the
         * working directory as `data` is; its folder is created. SIGHUP then reopens it (logrotate's `create`).
         */
        file: z.string().min(1).optional(),
      })
      .strict()
      .default({}),
    listeners: z
      .object({
        ...protocolListeners,
        /** The management API, metrics and console: on loopback unless opened on purpose. */
        http: listener(8161, true, '127.0.0.1'),
        /** The protocols that name WebSocket subprotocols, told apart by subprotocol. */
        websocket: listener(61614),
        ...protocolTlsListeners,
        /** The management API over https. */
        httpTls: listener(8162, false, '127.0.0.1'),
        /** WebSocket over TLS (wss). */
        websocketTls: listener(61615, false),
      })
      .strict()
      .default({}),
    /** The management API's HTTP listeners (http, httpTls). */
    http: z
      .object({
        /** ms from a client's connect to the end of its request head; a slower one is dropped. */
        headersTimeout: milliseconds.min(1).default(10_000),
        /** ms for a whole request, body included. */
        requestTimeout: milliseconds.min(1).default(30_000),
        /** Open connections past which new ones are dropped as they come. */
        maxConnections: positiveInt.default(256),
        /**
         * Host names, besides IP addresses and localhost, that a request without credentials may be
         * addressed to (`broker.example`; `.example.com` for it and every name under it; `*` any).
         * Others are refused, so that a page whose DNS name was pointed at the broker cannot use
         * the rights of anonymous clients (DNS rebinding). Requests with credentials may name any host.
         */
        allowedHosts: z.array(z.string().min(1)).default([]),
        /**
         * Origins (`https://broker.example:8443`: scheme, host and port as browsers write them) of
         * pages whose requests to change something are served besides the broker's own; `*` any.
         * For a console behind a reverse proxy that rewrites `Host` when the browser sends no
         * `Sec-Fetch-Site` and the proxy no `X-Forwarded-Host`. Others are refused as cross-site (CSRF).
         */
        allowedOrigins: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .default({}),
    transport: z
      .object({
        writeHighWaterMark: positiveInt.default(256 * 1024),
        /** Unsent bytes per connection past which it is dropped (a client that stops reading); 0: no bound. */
        maxPendingBytes: z.number().int().min(0).default(64 * 1024 * 1024),
        /** ms a TLS client has from its TCP connect to the end of its handshake. */
        handshakeTimeout: milliseconds.min(1).default(10_000),
        /**
         * ms a stopping broker, reading nothing more from its clients, waits for the store to take
         * what it has accepted, so that their acknowledgements go out before connections close.
         */
        stopTimeout: milliseconds.min(1).default(3000),
        /** File descriptors kept free for the broker (journal files, the management port, links): clients past the open-file limit less these are refused. */
        descriptorReserve: z.number().int().min(0).default(128),
      })
      .strict()
      .default({}),
    /** What one client may hold; each refusal is FERRY_LIMIT_EXCEEDED in the client's protocol. 0: no limit. */
    limits: z
      .object({
        /** Open connections per authenticated user. */
        connectionsPerUser: z.number().int().min(0).default(0),
        /** Open connections of all anonymous clients together. */
        anonymousConnections: z.number().int().min(0).default(0),
        /** Per-user overrides of connectionsPerUser, by user name. */
        users: z.record(z.string(), z.number().int().min(0)).optional(),
        /** Queues and topics in the broker (creation on first use, declarations and operators alike; dead-letter queues are never refused). */
        maxDestinations: z.number().int().min(0).default(100_000),
        /** Consumers of one queue, or subscriptions one topic name reaches. */
        maxConsumersPerDestination: z.number().int().min(0).default(10_000),
        /** Consumers and subscriptions open on one connection. */
        maxSubscriptionsPerConnection: z.number().int().min(0).default(10_000),
        /** Bytes waiting messages hold in all queues together (bodies, headers and the objects around them); past it each queue's memoryPolicy applies as at its own memoryLimit (page keeps taking, but a non-durable topic subscription behind its subscriber holds its producers). */
        messageMemory: z.number().int().min(0).default(1024 * 1024 * 1024),
      })
      .strict()
      .default({}),
    websocket: z
      .object({
        /** Largest WebSocket message a client may send (bytes); larger closes the connection with 1009, refused from the frame's length with no protocol error before it (logged as websocket.message-too-large). */
        maxPayload: positiveInt.default(16 * 1024 * 1024),
        /** ms between pings; a client that has sent nothing since the previous one, not even its pong, is dropped (one the broker is not reading is not judged). 0: no pings. */
        pingInterval: milliseconds.default(30_000),
        /** ms a client has to send its upgrade request after connecting, and, when it offered no subprotocol, the bytes that tell its protocol (undecided then, it is served as STOMP). */
        handshakeTimeout: milliseconds.min(1).default(10_000),
        /**
         * Web page origins (`https://app.example.com`) whose scripts may connect, besides pages
         * served from the broker's own host and port; `*` allows any. Clients that send no Origin
         * (every client but a browser) are not affected.
         */
        allowedOrigins: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .default({}),
    /** The certificate every TLS listener presents; relative to the configuration file. */
    tls: z
      .object({
        /** PEM file: the server's certificate, then any intermediate certificates. */
        cert: z.string().min(1).optional(),
        /** PEM file: its private key (unencrypted). */
        key: z.string().min(1).optional(),
        /** PEM file of the certificate authorities that client certificates are verified against. */
        ca: z.string().min(1).optional(),
        /** PEM file of certificate revocation lists (one or more): a revoked client certificate does not verify. */
        crl: z.string().min(1).optional(),
        /** Ask clients for a certificate; one without a certificate, or with one that does not verify, still connects, as a client without one. */
        requestCert: z.boolean().default(false),
        /** Refuse, on the protocol listeners and wss, a client without a certificate that verifies against `ca` (implies requestCert). */
        requireCert: z.boolean().default(false),
        /** The same on the management API's https listener, which browsers without a client certificate often need. */
        requireCertHttps: z.boolean().default(false),
        /**
         * OpenSSL cipher list for every TLS listener (TLS 1.3 suites by their `TLS_` names).
         * Default: Node's list at OpenSSL security level 2, which refuses RSA keys under 2048 bits.
         */
        ciphers: z.string().min(1).optional(),
      })
      .strict()
      .default({}),
    security,
    /** Links to neighbour brokers: demand forwarding, store and forward (docs/network.md). */
    network: z
      .object({
        connectors: z.array(networkConnector).default([]),
      })
      .strict()
      .default({}),
    /** Who may use the management API: group names, `*` for everyone. */
    management: z
      .object({
        /** Every GET (figures, lists, metrics). Default: everyone without security.authorization, else groups admins and monitors. */
        monitor: z.array(z.string().min(1)).optional(),
        /** Every change, and reading message bodies. Default: everyone without security.authorization, else group admins. */
        manage: z.array(z.string().min(1)).optional(),
      })
      .strict()
      .default({}),
    metrics: z
      .object({
        /** Destinations with series of their own in /metrics; the rest are summed under name="_other". */
        maxDestinations: positiveInt.default(500),
      })
      .strict()
      .default({}),
    ...protocolSections,
  })
  .strict();

export type FerryConfig = z.infer<typeof configSchema>;
