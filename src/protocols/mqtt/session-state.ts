import type { BrokerAccess, CoreConnection, CoreSession, MessageInit, SendOptions } from '../../core/index.js';

/**
 * What an MQTT session keeps between its connections, beyond its durable subscriptions (which
 * core keeps): the packet ids of QoS 2 exchanges half done in either direction, and the timers of
 * its expiry and of a delayed will. Held in memory: a broker restart forgets them.
 */
export class SessionState {
  // made on first use: most sessions never see QoS 2, and an idle connection should cost little
  private received: Set<number> | undefined;
  private awaiting: Set<number> | undefined;
  private sent: Map<string, number> | undefined;
  private sentBefore: Map<string, number> | undefined;

  /** Inbound QoS 2 packet ids answered with PUBREC and awaiting PUBREL: a resend of one is not delivered again. */
  get receivedQos2(): Set<number> {
    return (this.received ??= new Set());
  }

  /** Outbound QoS 2 packet ids whose PUBREC came and whose PUBCOMP has not ([MQTT-4.3.3-3]). */
  get awaitingComplete(): Set<number> {
    return (this.awaiting ??= new Set());
  }

  /**
   * Packet ids of QoS 1 and 2 publishes sent and not yet acknowledged, by subscription and message:
   * a reconnecting client gets them again under the same ids ([MQTT-4.4.0-1]). Ids of the connection
   * before are looked up; the current one's are recorded; so an id whose message went elsewhere
   * meanwhile (expired, dead-lettered) is forgotten a connection later.
   */
  rememberSent(key: string, packetId: number): void {
    (this.sent ??= new Map()).set(key, packetId);
  }

  forgetSent(key: string): void {
    this.sent?.delete(key);
    this.sentBefore?.delete(key);
  }

  sentBeforeAs(key: string): number | undefined {
    return this.sentBefore?.get(key) ?? this.sent?.get(key);
  }

  /** A new connection takes the session: what the last one sent unacknowledged is what may be resent. */
  connectionStarted(): void {
    this.sentBefore = this.sent;
    this.sent = undefined;
  }

  get awaitingCompleteCount(): number {
    return this.awaiting?.size ?? 0;
  }

  expiryTimer: NodeJS.Timeout | undefined;
  willTimer: NodeJS.Timeout | undefined;
  /** Publishes the will whose delay is running, at once; a session that ends sends it ([MQTT-3.1.3-9]). */
  pendingWill: (() => void) | undefined;
  /** True while a connection holds the session. */
  connected = false;
  /** The subscriptions of the connection that holds the session, for `$SYS`'s count; undefined while none does. */
  connection: { readonly subscriptions: ReadonlyMap<string, unknown> } | undefined;

  constructor(readonly clientId: string) {}

  cancelTimers(): void {
    clearTimeout(this.expiryTimer);
    clearTimeout(this.willTimer);
    this.expiryTimer = undefined;
    this.willTimer = undefined;
    this.pendingWill = undefined;
  }
}

/** Node timers hold at most 2^31-1 ms (about 24.8 days); a longer wait re-arms when that fires. */
export function longTimeout(ms: number, run: () => void): NodeJS.Timeout {
  const cap = 2_147_483_647;
  if (ms <= cap) {
    const timer = setTimeout(run, ms);
    timer.unref();
    return timer;
  }
  const timer = setTimeout(() => longTimeout(ms - cap, run), cap);
  timer.unref();
  return timer;
}

/**
 * The sessions of one MQTT adapter by client id, and the adapter's own core connection: it
 * publishes wills after their client has gone and `$SYS` statistics, and removes what an expired
 * session kept.
 */
export class SessionStates {
  private readonly states = new Map<string, SessionState>();
  private internal: Promise<{ connection: CoreConnection; session: CoreSession }> | undefined;
  /** Publishes under way, each settled either way: a stop waits for them (`publishPendingWills`). */
  private readonly publishing = new Set<Promise<void>>();
  private closed = false;

  get(clientId: string): SessionState | undefined {
    return this.states.get(clientId);
  }

  open(clientId: string): SessionState {
    let state = this.states.get(clientId);
    if (state === undefined) this.states.set(clientId, (state = new SessionState(clientId)));
    return state;
  }

  delete(state: SessionState): void {
    state.cancelTimers();
    if (this.states.get(state.clientId) === state) this.states.delete(state.clientId);
  }

  /** How many filters the sessions a connection holds subscribe to, shared ones and `$SYS` ones among them. */
  connectedSubscriptions(): number {
    let n = 0;
    for (const state of this.states.values()) if (state.connection !== undefined) n += state.connection.subscriptions.size;
    return n;
  }

  /** Sends as the broker itself; false when the broker is not running. */
  publish(broker: BrokerAccess, init: MessageInit, retain: SendOptions['retain']): boolean {
    if (!broker.isRunning || this.closed) return false;
    const sent = this.withInternal(broker, ({ session }) => session.send(init, undefined, { retain })).then(
      () => {},
      () => {},
    );
    this.publishing.add(sent);
    void sent.then(() => this.publishing.delete(sent));
    return true;
  }

  /**
   * The broker is about to stop: the wills waiting out their delay go out now, since neither they
   * nor their timers outlive the stop; resolves once they and every other publish under way are
   * routed and, when persistent, stored.
   */
  async publishPendingWills(): Promise<void> {
    for (const state of this.states.values()) state.pendingWill?.();
    await Promise.all(this.publishing);
  }

  /**
   * Runs `work` on the adapter's own connection, opened on first use (and again if the broker
   * closed it); nothing happens when the broker is not running. Settles when `work` has run and
   * what it returned has settled, or when it could not run.
   */
  withInternal(broker: BrokerAccess, work: (internal: { connection: CoreConnection; session: CoreSession }) => unknown): Promise<unknown> {
    if (!broker.isRunning || this.closed) return Promise.resolve();
    const open = (): Promise<{ connection: CoreConnection; session: CoreSession }> =>
      broker.connect({ protocol: 'mqtt', transport: { remoteAddress: 'broker' }, internal: true }).then((connection) => ({ connection, session: connection.createSession() }));
    const pending = (this.internal ??= open());
    return pending.then(
      (internal) => {
        if (!internal.connection.isClosed) return work(internal);
        if (this.internal === pending) this.internal = undefined;
        return this.withInternal(broker, work);
      },
      () => {
        if (this.internal === pending) this.internal = undefined;
      },
    );
  }

  /** The adapter is stopping: its connection closes and nothing more is published. */
  close(): void {
    this.closed = true;
    for (const state of this.states.values()) state.cancelTimers();
    this.internal?.then((internal) => internal.connection.close(), () => {});
    this.internal = undefined;
  }
}
