import type { BrokerAccess, BrokerStats, CoreConnection } from '../../core/index.js';
import { keptSessionOwners } from './durable-session.js';
import type { SessionStates } from './session-state.js';

const VERSION = '0.1.0';

/**
 * Publishes the broker's statistics under `$SYS/broker/...` when it starts and every interval
 * after, with the topic names Mosquitto uses, so dashboards written for it work. Retained, as
 * Mosquitto's are, so a new subscriber (`mosquitto_sub -t '$SYS/broker/uptime' -C 1`) gets the
 * latest values at once; in memory only, since they are sent again each interval and a restart
 * must not hand out the figures of the broker before it.
 */
export class SysPublisher {
  private timer: NodeJS.Timeout | undefined;
  private readonly started = Date.now();

  constructor(
    private readonly broker: BrokerAccess,
    private readonly states: SessionStates,
    private readonly counters: { readonly received: number; readonly sent: number },
    private readonly interval: number,
  ) {}

  start(): void {
    this.publish();
    this.timer = setInterval(() => this.publish(), this.interval);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private publish(): void {
    if (!this.broker.isRunning) {
      this.stop();
      return;
    }
    this.states.withInternal(this.broker, ({ connection }) => this.publishFrom(connection, connection.brokerStats(), connection.retainedCount()));
  }

  /**
   * MQTT subscriptions, one per client and filter, as Mosquitto counts them: those of the sessions
   * connected now, and the filters persistent sessions away keep as durable subscriptions (named
   * `part|filter`, `a/#` has two). Core's topic figures would count other protocols' subscribers and
   * `a/#` twice, and miss a wildcard filter no topic matches yet.
   */
  private subscriptionCount(internal: CoreConnection, stats: BrokerStats): number {
    const count = this.states.connectedSubscriptions();
    const away = new Set(keptSessionOwners(internal).filter((clientId) => this.states.get(clientId)?.connection === undefined));
    if (away.size === 0) return count;
    const filters = new Set<string>();
    for (const d of stats.durableSubscriptions) {
      const bar = d.name.indexOf('|');
      if (bar > 0 && away.has(d.clientId)) filters.add(`${d.clientId}\u0000${d.name.slice(bar + 1)}`);
    }
    return count + filters.size;
  }

  private publishFrom(internal: CoreConnection, stats: BrokerStats, retained: number): void {
    const subscriptions = this.subscriptionCount(internal, stats);
    let queued = 0;
    for (const queue of stats.queues) queued += queue.pending;
    for (const durable of stats.durableSubscriptions) queued += durable.pending;
    const values: [string, string][] = [
      ['version', `Ferry ${VERSION}`],
      ['uptime', `${Math.floor((Date.now() - this.started) / 1000)} seconds`],
      ['clients/connected', String(stats.connections)],
      ['subscriptions/count', String(subscriptions)],
      ['retained messages/count', String(retained)],
      ['messages/received', String(this.counters.received)],
      ['messages/sent', String(this.counters.sent)],
      ['messages/stored', String(queued)],
    ];
    for (const [name, value] of values) {
      const topic = `$SYS.broker.${name.replace(/\//g, '.')}`;
      if (!this.states.publish(this.broker, { destination: { kind: 'topic', name: topic }, body: Buffer.from(value, 'utf8'), bodyKind: 'text' }, 'memory')) return;
    }
  }
}
