/** A network connector's configuration (`network.connectors[]`, docs/network.md). */
export interface ConnectorSettings {
  readonly name: string;
  readonly uris: readonly string[];
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly include: readonly string[];
  readonly exclude: readonly string[];
  readonly ttl: number;
  readonly prefetch: number;
  readonly localFirst: boolean;
  readonly reconnectDelay: number;
  readonly maxReconnectDelay: number;
  /** STOMP heart-beat on the link, ms, both ways; 0: none. */
  readonly heartbeat: number;
  /** The neighbour also pulls from this broker over the same connection (docs/network.md). */
  readonly duplex: boolean;
  /** For `ssl://` neighbours: PEM files (the authorities to verify the neighbour by, a client certificate and its key). */
  readonly tls?: { readonly ca?: string | undefined; readonly cert?: string | undefined; readonly key?: string | undefined; readonly servername?: string | undefined; readonly verify: boolean } | undefined;
}
