import { z } from 'zod';
import { MAX_TIMER_DELAY } from '../../transport/index.js';

/** The `openwire` section of the configuration: its one source of defaults. */
export const openwireOptionsSchema = z
  .object({
    /** Largest command accepted, in bytes (refused from its size prefix), and the most a compressed body inflates to. ActiveMQ's default is 100 MiB. */
    maxFrameSize: z.number().int().positive().max(0x7fffffff).default(100 * 1024 * 1024),
    /**
     * The longest a connection may stay silent, in ms, offered in the broker's WireFormatInfo; the
     * shorter of this and the client's applies, and 0 on either side switches the check off.
     */
    maxInactivityDuration: z.number().int().min(0).default(30_000),
    /** How long after the handshake the inactivity checks start, in ms. */
    maxInactivityDurationInitialDelay: z.number().int().min(0).max(MAX_TIMER_DELAY).default(10_000),
    /** Milliseconds a client has to send its WireFormatInfo after connecting. */
    negotiateTimeout: z.number().int().positive().max(MAX_TIMER_DELAY).default(15_000),
    /**
     * The OpenWire port also serves STOMP, AMQP 1.0 and MQTT, told apart by the client's first bytes
     * (ActiveMQ's `auto` transport); false serves OpenWire alone.
     */
    detectProtocols: z.boolean().default(true),
  })
  .strict()
  .default({});

export type OpenWireOptions = Readonly<z.infer<typeof openwireOptionsSchema>>;

export const defaultOpenWireOptions: OpenWireOptions = openwireOptionsSchema.parse({});
