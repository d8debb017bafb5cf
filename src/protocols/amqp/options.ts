import { z } from 'zod';
import { MAX_TIMER_DELAY } from '../../transport/index.js';

/** The `amqp` section of the configuration: its one source of defaults. */
export const amqpOptionsSchema = z
  .object({
    /** Largest frame the broker accepts and offers in its open (max-frame-size), in bytes; AMQP's smallest allowed is 512. */
    maxFrameSize: z.number().int().min(512).max(0xffffffff).default(256 * 1024),
    /** Largest message (all the frames of one transfer together) accepted, in bytes. */
    maxMessageSize: z.number().int().positive().default(10 * 1024 * 1024),
    /** Most sessions on one connection (channel-max + 1). */
    maxSessions: z.number().int().min(1).max(65536).default(256),
    /** Most links on one connection, all sessions together. */
    maxLinks: z.number().int().positive().default(10_000),
    /**
     * The idle-time-out the broker announces in its open, in ms (0: none). A client from which
     * nothing has come for twice this, counted from its last frame, is disconnected then, as the
     * specification recommends (it asks peers to announce half their real limit). The client's own
     * idle-time-out is honoured by sending empty frames at half of it. At most what a Node timer
     * keeps (about 24.8 days).
     */
    idleTimeout: z.number().int().min(0).max(MAX_TIMER_DELAY).default(30_000),
    /** Milliseconds a client has to finish SASL and send its open after connecting. */
    openTimeout: z.number().int().positive().max(MAX_TIMER_DELAY).default(10_000),
    /** Link credit the broker gives each sending link, topped up when half is used. */
    producerCredit: z.number().int().positive().default(1000),
    /**
     * The session's incoming window: transfers a client may send before the broker's flow tops it
     * up (at half). Also the slots in which a session finds its unsettled deliveries to consumers
     * without allocating; it does not bound them ([AMQP 2.5.6]: the client's window and link credit do).
     */
    sessionWindow: z.number().int().positive().default(4096),
  })
  .strict()
  .default({});

export type AmqpOptions = Readonly<z.infer<typeof amqpOptionsSchema>>;

export const defaultAmqpOptions: AmqpOptions = amqpOptionsSchema.parse({});
