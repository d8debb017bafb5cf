import { execFileSync } from 'node:child_process';

/**
 * A network namespace made by a test (root only), joined to this one by two veth pairs: one
 * carries a network link to a broker here, the other the test's own clients, so that the link
 * can be cut without a reset (its packets simply vanish, as in a partition) while the clients
 * stay connected.
 */
export interface TestNamespace {
  readonly name: string;
  /** This side's address on the link pair: what a broker in the namespace connects to. */
  readonly hostOnLink: string;
  /** The namespace's address on the clients' pair: where the test reaches its broker. */
  readonly clientAddress: string;
  /** Takes this side of the link pair down: nothing crosses, nothing is told. */
  cut(): void;
  heal(): void;
  remove(): void;
}

const ip = (...args: string[]): void => void execFileSync('ip', args, { stdio: 'pipe' });

/** Makes the namespace, or says why it cannot be made here (not root, no `ip`, no namespaces). */
export function makeNamespace(): TestNamespace | string {
  const id = process.pid % 100_000;
  const name = `ferry-test-${id}`;
  const subnet = `10.${200 + (id % 50)}`;
  const [linkHere, linkThere, clientHere, clientThere] = [`fl${id}h`, `fl${id}t`, `fc${id}h`, `fc${id}t`];
  try {
    ip('netns', 'add', name);
  } catch (err) {
    return `cannot make a network namespace: ${(err as Error).message.split('\n')[0]}`;
  }
  const remove = (): void => {
    // deleting the namespace deletes its ends of the pairs, and so the pairs
    try {
      ip('netns', 'del', name);
    } catch {
      // already gone
    }
  };
  try {
    ip('-n', name, 'link', 'set', 'lo', 'up');
    for (const [here, there, net] of [[linkHere, linkThere, 1], [clientHere, clientThere, 2]] as const) {
      ip('link', 'add', here, 'type', 'veth', 'peer', 'name', there);
      ip('link', 'set', there, 'netns', name);
      ip('addr', 'add', `${subnet}.${net}.1/24`, 'dev', here);
      ip('-n', name, 'addr', 'add', `${subnet}.${net}.2/24`, 'dev', there);
      ip('link', 'set', here, 'up');
      ip('-n', name, 'link', 'set', there, 'up');
    }
  } catch (err) {
    remove();
    return `cannot wire the network namespace: ${(err as Error).message.split('\n')[0]}`;
  }
  return {
    name,
    hostOnLink: `${subnet}.1.1`,
    clientAddress: `${subnet}.2.2`,
    cut: () => ip('link', 'set', linkHere, 'down'),
    heal: () => ip('link', 'set', linkHere, 'up'),
    remove,
  };
}
