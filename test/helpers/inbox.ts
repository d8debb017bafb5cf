/**
 * What a test client has received, taken in order with a time limit. Shared by the STOMP, AMQP and
 * MQTT test helpers; `describe` names an item in the message of a failed `expectNothing`.
 */
export class Inbox<T> {
  private readonly items: T[] = [];
  private waiter: (() => void) | undefined;

  constructor(
    private readonly what = 'message',
    private readonly describe: (item: T) => string = (item) => JSON.stringify(item),
  ) {}

  push(item: T): void {
    this.items.push(item);
    this.waiter?.();
  }

  get size(): number {
    return this.items.length;
  }

  async next(timeoutMs = 3000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (this.items.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${this.what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.items.shift()!;
  }

  async take(n: number, timeoutMs = 5000): Promise<T[]> {
    const out: T[] = [];
    for (let i = 0; i < n; i++) out.push(await this.next(timeoutMs));
    return out;
  }

  /** Asserts nothing arrives for `ms` milliseconds (only where absence is the behaviour under test). */
  async expectNothing(ms = 300): Promise<void> {
    let got: T;
    try {
      got = await this.next(ms);
    } catch {
      return;
    }
    throw new Error(`expected no ${this.what}, got ${this.describe(got)}`);
  }
}
