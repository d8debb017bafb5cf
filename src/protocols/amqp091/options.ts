import { z } from 'zod';
import { MAX_TIMER_DELAY } from '../../transport/index.js';

/** The `amqp091` section of the configuration: its one source of defaults. */
export const amqp091OptionsSchema = z
  .object({
    /**
     * Largest frame, in bytes, offered in connection.tune (frame-max); a client may ask for less.
     * RabbitMQ's default; the specification's smallest is 4096.
     */
    frameMax: z.number().int().min(4096).max(0x7fffffff).default(131_072),
    /** Most channels on one connection (channel-max). */
    channelMax: z.number().int().min(1).max(65535).default(2047),
    /**
     * Heartbeat interval offered in connection.tune, in seconds (0: none); the client's answer in
     * tune-ok decides. A client silent for two intervals is disconnected.
     */
    heartbeat: z.number().int().min(0).max(65535).default(60),
    /** Largest message body accepted, in bytes: a larger one is refused with 406 before its body is kept. */
    maxMessageSize: z.number().int().positive().default(16 * 1024 * 1024),
    /** Milliseconds a client has to finish the handshake (protocol header to connection.open). */
    handshakeTimeout: z.number().int().positive().max(MAX_TIMER_DELAY).default(10_000),
    /**
     * Serve AMQP 0-9-1 on the AMQP 1.0 listeners too (port 5672, and 5671 with TLS), told apart by
     * the protocol header, as RabbitMQ does; false leaves it to its own listener (`listeners.amqp091`).
     */
    onAmqpPort: z.boolean().default(true),
  })
  .strict()
  .default({});

export type Amqp091Options = Readonly<z.infer<typeof amqp091OptionsSchema>>;

export const defaultAmqp091Options: Amqp091Options = amqp091OptionsSchema.parse({});
