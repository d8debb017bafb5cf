import type { Watcher } from './watched.js';

/** A client's connection as those watching connections see it (an OpenWire advisory, for one). */
export interface ConnectionFacts {
  readonly id: string;
  readonly protocol: string;
  /** The client id it holds, or else the name it goes by (see `ConnectRequest.name`). */
  readonly clientId: string | undefined;
  readonly user: string | undefined;
  readonly remoteAddress: string;
}

/** Told when clients connect and disconnect (the broker's own internal connections left out). */
export type ConnectionWatcher = Watcher<ConnectionFacts>;
