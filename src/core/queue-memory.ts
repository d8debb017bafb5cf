import type { MessageMemory } from './message-memory.js';
import type { PendingEntries } from './pending.js';
import type { DestinationPolicy } from './policy.js';

/** One queue's memory limits (its own memoryLimit, and limits.messageMemory) and whether its producers wait at them. */
export class QueueMemory {
  /** Producers held at a memory limit wait for this (see `whenRoom`). */
  private room: Promise<void> | undefined;

  constructor(
    private readonly policy: DestinationPolicy,
    private readonly pending: PendingEntries,
    private readonly all: MessageMemory | undefined,
    /** A non-durable subscription: paging cannot write out its messages, which several subscriptions share. */
    private readonly unpageable: boolean,
  ) {}

  private get ownLimitReached(): boolean {
    return this.policy.memoryLimit > 0 && this.pending.held >= this.policy.memoryLimit;
  }

  /** At its own memoryLimit, or all queues together at limits.messageMemory: its memoryPolicy applies. */
  get reached(): boolean {
    return this.ownLimitReached || this.all?.over === true;
  }

  /**
   * At a memory limit with memoryPolicy block: its producers wait for `whenRoom`. So do those of a
   * non-durable subscription under page that is behind its subscriber, since page cannot apply to
   * it: without this, one subscriber that stops reading would grow the broker's memory without bound.
   */
  get holdsProducers(): boolean {
    // asked for every message a queue takes: the policy first, which settles it for most queues
    const policy = this.policy.memoryPolicy;
    if (policy === 'block') return this.reached;
    return policy === 'page' && this.unpageable && this.pending.length > 0 && this.reached;
  }

  /**
   * Resolves once what its waiting messages hold is under the memory limit that was reached; for a
   * subscription held under page, also once its subscriber has caught up.
   */
  whenRoom(): Promise<void> {
    if (!this.holdsProducers) return Promise.resolve();
    if (this.room !== undefined) return this.room;
    const ownLimit = this.ownLimitReached;
    if (!ownLimit && this.policy.memoryPolicy === 'block') return this.all!.whenRoom();
    let resolve!: () => void;
    const room = new Promise<void>((r) => (resolve = r));
    this.room = room;
    const made = (): void => {
      if (this.room === room) this.room = undefined;
      resolve();
    };
    if (ownLimit) {
      this.pending.watchRoom(this.policy.memoryLimit, made);
    } else {
      this.pending.watchRoom(1, made);
      void this.all!.whenRoom().then(made);
    }
    return room;
  }
}
