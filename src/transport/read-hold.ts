import type { TransportConnection } from './connection.js';

/**
 * Holds a producer by no longer reading its socket, until a queue it filled has room
 * (`memoryPolicy: block`): STOMP, MQTT and AMQP 0-9-1 carry every producer of a connection on one
 * stream, so this is how they wait, as ActiveMQ and RabbitMQ do it. The peer's kernel buffers fill,
 * then its writes block; nothing it sent is dropped. While held, the session must not count the
 * silence against the peer's heart-beat or keep-alive: what it sent waits unread (over WebSocket,
 * the pong to a ping too: `WebSocketConnection.pingSweep` does not judge a paused connection).
 */
export class ReadHold {
  private holding = false;
  /** When the last hold ended, by `Date.now()`: a heart-beat check counts silence from here too. */
  endedAt = 0;

  constructor(private readonly transport: TransportConnection) {}

  get held(): boolean {
    return this.holding;
  }

  /** Stops reading until `room` resolves; undefined (room now) does nothing. */
  until(room: Promise<void> | undefined): void {
    if (room === undefined || this.holding) return;
    this.holding = true;
    this.transport.pause();
    void room.then(() => {
      this.holding = false;
      this.endedAt = Date.now();
      if (!this.transport.closed) this.transport.resume();
    });
  }
}
