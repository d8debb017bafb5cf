import { z } from 'zod';
import { MAX_TIMER_DELAY } from '../../transport/index.js';

/** The `stomp` section of the configuration: its one source of defaults. */
export const stompOptionsSchema = z
  .object({
    /** Largest frame body accepted, in bytes. */
    maxFrameSize: z.number().int().positive().default(10 * 1024 * 1024),
    /** Largest command line plus header block, in bytes. */
    maxHeaderSize: z.number().int().positive().default(64 * 1024),
    maxHeaders: z.number().int().positive().default(1000),
    maxSubscriptions: z.number().int().positive().default(10_000),
    /** Milliseconds a client has to send CONNECT after opening the socket. */
    connectTimeout: z.number().int().positive().max(MAX_TIMER_DELAY).default(10_000),
    /** Smallest interval at which the broker offers to send heart-beats (0: never). */
    heartbeatSend: z.number().int().min(0).default(1000),
    /** Interval at which the broker asks for the client's heart-beats (0: never). */
    heartbeatReceive: z.number().int().min(0).default(1000),
    /** A client is late when silent for its heart-beat interval times this factor. */
    heartbeatGrace: z.number().min(1).default(1.5),
    /** Prefetch of a subscription that does not give activemq.prefetchSize. */
    defaultPrefetch: z.number().int().positive().default(1000),
  })
  .strict()
  .default({});

export type StompOptions = Readonly<z.infer<typeof stompOptionsSchema>>;

export const defaultStompOptions: StompOptions = stompOptionsSchema.parse({});
