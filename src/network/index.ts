import type { BrokerAccess, Logger } from '../core/index.js';
import { createStompAdapter, type DuplexAcceptor, type DuplexEnd, type DuplexPeer, type StompOptions } from '../protocols/stomp/index.js';
import type { ProtocolAdapter } from '../transport/index.js';
import { NetworkConnector, type ConnectorSettings, type ConnectorStats } from './connector.js';
import { acceptedSettings } from './duplex.js';
import { NeighbourLink } from './link.js';

export type { ConnectorSettings, ConnectorState, ConnectorStats } from './connector.js';

/**
 * The broker's network connectors (docs/network.md): those of its configuration, and one for each
 * duplex link a neighbour opened to it (the STOMP listener hands those here), for as long as that
 * link lasts.
 */
export class BrokerNetwork implements DuplexAcceptor {
  private readonly connectors: NetworkConnector[];
  private readonly accepted = new Set<NetworkConnector>();
  /** Serves the links neighbours run back over this broker's duplex connectors. */
  private readonly stomp: ProtocolAdapter;
  private running = false;

  constructor(
    settings: readonly ConnectorSettings[],
    private readonly broker: BrokerAccess,
    private readonly logger: Logger,
    stompOptions: StompOptions,
  ) {
    this.stomp = createStompAdapter(stompOptions, logger);
    this.connectors = settings.map((s) => new NetworkConnector(s, broker, logger, { stomp: this.stomp }));
  }

  /** Starts every connector; each links to its neighbour in the background and keeps trying. */
  async start(): Promise<void> {
    this.running = true;
    for (const connector of this.connectors) await connector.start();
  }

  /** `atOnce`: every link is dropped rather than closed with a goodbye (a broker that lost its HA lease). */
  stop(atOnce = false): void {
    this.running = false;
    for (const connector of [...this.connectors, ...this.accepted]) connector.stop(atOnce);
  }

  stats(): ConnectorStats[] {
    return [...this.connectors, ...this.accepted].map((c) => c.stats());
  }

  accept(peer: DuplexPeer): DuplexEnd {
    if (!this.running) {
      peer.close();
      return { frame: () => {}, closed: () => {} };
    }
    const settings = acceptedSettings(peer);
    const { link, end } = NeighbourLink.over(peer, `ferry-network:${this.broker.name}:${settings.name}`, 10_000);
    const connector = new NetworkConnector(settings, this.broker, this.logger, { accepted: link, as: peer.connection, stopped: () => this.accepted.delete(connector) });
    this.accepted.add(connector);
    this.logger.info({ event: 'network.duplex-accepted', connector: settings.name, remote: peer.remoteAddress }, `a neighbour opened duplex link ${settings.name}: this broker pulls from it over the same connection`);
    void connector.start();
    return end;
  }
}
