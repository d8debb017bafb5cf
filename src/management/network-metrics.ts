import { Counter, Gauge, type Registry } from 'prom-client';

/** What the metrics read of one network connector (the network's `ConnectorStats` has it all). */
export interface ConnectorFigures {
  readonly name: string;
  readonly state: string;
  readonly neighbour: string | undefined;
  readonly demand: readonly { readonly back: boolean }[];
  readonly received: number;
  readonly returned: number;
  readonly links: number;
}

/**
 * The network connectors' series, one per connector (`connector` label): a handful per broker,
 * read from the connectors when Prometheus scrapes. What a neighbour takes from this broker is its
 * own connector's `ferry_network_received_total`, on the neighbour.
 */
export function registerNetworkMetrics(registry: Registry, connectors: () => readonly ConnectorFigures[]): void {
  const labelNames = ['connector'] as const;
  const gauge = (name: string, help: string, read: (c: ConnectorFigures) => number): void => {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const c of connectors()) this.set({ connector: c.name }, read(c));
      },
    });
  };
  const counter = (name: string, help: string, read: (c: ConnectorFigures) => number): void => {
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const c of connectors()) this.inc({ connector: c.name }, read(c));
      },
    });
  };
  gauge('ferry_network_connector_up', '1 while the network connector is linked to its neighbour, else 0', (c) => (c.state === 'connected' ? 1 : 0));
  gauge('ferry_network_demand', 'Destinations the connector pulls from its neighbour (forward subscriptions)', (c) => c.demand.filter((d) => !d.back).length);
  counter('ferry_network_received_total', 'Messages the connector took from its neighbour and stored here', (c) => c.received);
  counter('ferry_network_returned_total', 'Of those, messages that had left this broker before and came back to its consumers', (c) => c.returned);
  counter('ferry_network_links_total', 'Times the connector linked to its neighbour (1 + reconnections)', (c) => c.links);
}
