import type { IMessage } from '@stomp/stompjs';
import type { StompTestClient } from './stomp.js';

/** Sends persistent messages 1, 2, 3... with a window of unconfirmed sends until `stop` says so; returns the confirmed ones. */
export async function streamUntil(client: StompTestClient, destination: string, window: number, stop: (confirmed: number) => boolean, body: (n: number) => string = (n) => `m${n}`): Promise<Set<number>> {
  const confirmed = new Set<number>();
  let seq = 0;
  let outstanding = 0;
  let wake: (() => void) | undefined;
  let dead = false;
  client.closed.then(() => {
    dead = true;
    wake?.();
  });
  while (!dead && !stop(confirmed.size)) {
    if (outstanding >= window) {
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      continue;
    }
    const n = ++seq;
    const receipt = `s-${n}`;
    outstanding++;
    client.client.watchForReceipt(receipt, () => {
      confirmed.add(n);
      outstanding--;
      wake?.();
    });
    client.client.publish({ destination, body: body(n), headers: { persistent: 'true', seq: String(n), receipt } });
    if (n % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  return new Set(confirmed);
}

/**
 * Receives and acknowledges until every message in `expected` (by its seq header) has come, then
 * until nothing more arrives for `quietMs`; a slow machine gets the time it needs for the first part.
 */
export async function drain(client: StompTestClient, destination: string, expected: ReadonlySet<number> = new Set(), quietMs = 500): Promise<IMessage[]> {
  const got: IMessage[] = [];
  const missing = new Set(expected);
  const inbox = client.subscribe(destination, { ack: 'client-individual' });
  for (;;) {
    try {
      const m = await inbox.next(missing.size > 0 ? 60_000 : quietMs);
      got.push(m);
      missing.delete(Number(m.headers['seq']));
      m.ack();
    } catch {
      return got;
    }
  }
}
