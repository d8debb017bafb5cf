/**
 * Keep-alive of every MQTT connection of an adapter on one timer ([MQTT-3.1.2-24]). A timer per
 * connection cost an idle connection a Timeout, its closure and their context (about 300 bytes of
 * the 5 KiB it held, measured on 2,000 connections), and woke the broker once per connection per
 * quarter keep-alive. Here a connection sits in the slot of the tick at which it could first have
 * gone silent for too long; packets only update its `lastReceived`, and a connection found in a slot
 * with a later deadline moves to that deadline's slot, as a hashed timing wheel with lazy re-arming
 * does (Varghese and Lauck; Netty's IdleStateHandler re-arms the same way).
 */

/** What the wheel needs of a connection. */
export interface KeepAliveWatched {
  /** Milliseconds of silence after which the connection is closed: keep-alive times the grace. */
  keepAliveLimit: number;
  /** The slot it waits in, or -1. The wheel's own field. */
  keepAliveSlot: number;
  /** When the client was last heard from; undefined while its reading is held, since its silence is then the broker's. */
  silentSince(): number | undefined;
  /** The deadline passed. */
  keepAliveExpired(): void;
}

export interface KeepAliveClock {
  now(): number;
  /** Calls `tick` every `ms` until the returned function is called; the timer must not keep the process alive. */
  every(ms: number, tick: () => void): () => void;
}

const realClock: KeepAliveClock = {
  now: Date.now,
  every(ms, tick) {
    // the wheel looks once the sockets' waiting bytes are read: after a stall of the broker, the
    // packets its clients kept sending meanwhile are not taken for silence (see transport/silence.ts)
    const timer = setInterval(() => setImmediate(tick), ms);
    timer.unref();
    return () => clearInterval(timer);
  },
};

export class KeepAliveWheel {
  /** Connections by the tick (`deadline / tickMs`, rounded up) at which they are looked at. */
  private readonly slots = new Map<number, Set<KeepAliveWatched>>();
  /** Ticks up to this one have been looked at. */
  private done: number;
  private watched = 0;
  private stop: (() => void) | undefined;

  constructor(
    private readonly clock: KeepAliveClock = realClock,
    /** A connection is closed at most this long after its deadline. */
    private readonly tickMs = 250,
  ) {
    this.done = Math.floor(clock.now() / tickMs);
  }

  /** Starts watching `c`, whose limit is set: it is closed once silent for longer than `keepAliveLimit`. */
  watch(c: KeepAliveWatched): void {
    if (c.keepAliveSlot >= 0) this.unwatch(c);
    if (this.watched++ === 0) {
      // no timer while no connection has a keep-alive
      this.done = Math.floor(this.clock.now() / this.tickMs);
      this.stop = this.clock.every(this.tickMs, () => this.tick());
    }
    this.place(c, this.clock.now() + c.keepAliveLimit);
  }

  unwatch(c: KeepAliveWatched): void {
    const t = c.keepAliveSlot;
    if (t < 0) return;
    c.keepAliveSlot = -1;
    const slot = this.slots.get(t);
    if (slot === undefined || !slot.delete(c)) return;
    if (slot.size === 0) this.slots.delete(t);
    if (--this.watched === 0) this.halt();
  }

  /** Connections watched now. */
  get size(): number {
    return this.watched;
  }

  /** Looks at every slot whose time has come; the timer calls it, and a test with its own clock. */
  tick(): void {
    const now = this.clock.now();
    const until = Math.floor(now / this.tickMs);
    // a stalled process (or a clock that jumped) looks at each missed tick once, in order
    for (let t = this.done + 1; t <= until; t++) {
      this.done = t;
      const slot = this.slots.get(t);
      if (slot === undefined) continue;
      this.slots.delete(t);
      for (const c of slot) {
        c.keepAliveSlot = -1;
        const since = c.silentSince();
        if (since !== undefined && now - since > c.keepAliveLimit) {
          this.watched--;
          c.keepAliveExpired();
        } else this.place(c, (since ?? now) + c.keepAliveLimit);
      }
    }
    if (this.watched === 0) this.halt();
  }

  close(): void {
    this.slots.clear();
    this.watched = 0;
    this.halt();
  }

  private halt(): void {
    this.stop?.();
    this.stop = undefined;
  }

  /** Puts `c` in the slot of `deadline`, or of the next tick when that one has been looked at. */
  private place(c: KeepAliveWatched, deadline: number): void {
    // the first tick strictly after the deadline, where silence has passed the limit
    const t = Math.max(Math.floor(deadline / this.tickMs) + 1, this.done + 1);
    let slot = this.slots.get(t);
    if (slot === undefined) this.slots.set(t, (slot = new Set()));
    slot.add(c);
    c.keepAliveSlot = t;
  }
}
