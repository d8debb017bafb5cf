import type { BrokerAccess, Logger } from '../core/index.js';
import { NetworkConnector, type ConnectorSettings, type ConnectorStats } from './connector.js';

export type { ConnectorSettings, ConnectorState, ConnectorStats } from './connector.js';

/** The broker's network connectors (docs/network.md). */
export class BrokerNetwork {
  private readonly connectors: NetworkConnector[];

  constructor(settings: readonly ConnectorSettings[], broker: BrokerAccess, logger: Logger) {
    this.connectors = settings.map((s) => new NetworkConnector(s, broker, logger));
  }

  /** Starts every connector; each links to its neighbour in the background and keeps trying. */
  async start(): Promise<void> {
    for (const connector of this.connectors) await connector.start();
  }

  stop(): void {
    for (const connector of this.connectors) connector.stop();
  }

  stats(): ConnectorStats[] {
    return this.connectors.map((c) => c.stats());
  }
}
