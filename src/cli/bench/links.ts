/**
 * What `ferry bench` asks of a protocol: producers that send a body and say when the broker has it,
 * consumers that hand over each body received. One file per protocol implements it.
 */

export interface BenchTarget {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  /** The authority that signed the broker's certificate (`--ca`), beside the ones Node trusts. */
  readonly ca: Buffer | undefined;
  readonly kind: 'queue' | 'topic';
  /** The destination's name in Ferry's dotted form. */
  readonly name: string;
  readonly persistent: boolean;
  readonly user: string | undefined;
  readonly password: string | undefined;
}

export interface BenchProducer {
  /**
   * Sends one message. Persistent sends resolve when the broker confirms them (receipt, PUBACK,
   * accepted); others when the socket can take more. The caller keeps a window of these open.
   */
  send(body: Buffer): Promise<void>;
  close(): Promise<void>;
}

export interface BenchConsumer {
  close(): Promise<void>;
}

export interface BenchProtocol {
  /** The listener's port when --url names none. */
  readonly defaultPort: number;
  producer(target: BenchTarget, onFailure: (err: Error) => void): Promise<BenchProducer>;
  /** Resolves once the subscription is in place, so that nothing sent after it is missed. */
  consumer(target: BenchTarget, onMessage: (body: Buffer) => void, onFailure: (err: Error) => void): Promise<BenchConsumer>;
}
