import { FerryError } from '../../errors.js';
import type { Destination } from '../../core/index.js';

/**
 * AMQP addresses <-> core destinations, as ActiveMQ Artemis reads them: a plain address is a queue;
 * `queue://x` and `topic://x` say the kind outright; otherwise a terminus capability `queue` or
 * `topic` (and `temporary-queue` / `temporary-topic`) decides. Temporary destinations travel as
 * `temp-queue://name` and `temp-topic://name`, so that a reply-to address sent to another client
 * comes back to the same temporary destination.
 */

const prefixes: readonly [string, 'queue' | 'topic', boolean][] = [
  ['queue://', 'queue', false],
  ['topic://', 'topic', false],
  ['temp-queue://', 'queue', true],
  ['temp-topic://', 'topic', true],
];

export function parseAddress(address: string, capabilities: readonly string[] = []): Destination {
  for (const [prefix, kind, temporary] of prefixes) {
    if (!address.startsWith(prefix)) continue;
    const name = address.slice(prefix.length);
    if (name.length === 0) throw new FerryError('FERRY_DESTINATION_INVALID', `address "${address}" has no name after its prefix`);
    return temporary ? { kind, name, temporary: true } : { kind, name };
  }
  if (address.length === 0) throw new FerryError('FERRY_DESTINATION_INVALID', 'the address is empty');
  if (capabilities.includes('temporary-topic')) return { kind: 'topic', name: address, temporary: true };
  if (capabilities.includes('temporary-queue')) return { kind: 'queue', name: address, temporary: true };
  if (capabilities.includes('topic')) return { kind: 'topic', name: address };
  return { kind: 'queue', name: address };
}

/** The address a client uses for `destination`: queues plain, everything else with its prefix. */
export function formatAddress(destination: Destination): string {
  if (destination.temporary === true) return `temp-${destination.kind}://${destination.name}`;
  return destination.kind === 'queue' ? destination.name : `topic://${destination.name}`;
}

/** The terminus capability that tells a client what kind of node it is attached to. */
export function capabilityOf(destination: Destination): string {
  if (destination.temporary === true) return destination.kind === 'queue' ? 'temporary-queue' : 'temporary-topic';
  return destination.kind;
}

const jmsTypes: readonly (readonly string[])[] = [['queue'], ['topic'], ['temporary-queue'], ['temporary-topic']];

/**
 * Qpid JMS's destination type codes (the message annotations `x-opt-jms-dest` and
 * `x-opt-jms-reply-to`: 0 queue, 1 topic, 2 temporary queue, 3 temporary topic) as the terminus
 * capabilities that say the same, so that `parseAddress` reads a bare address of that type as
 * ActiveMQ Artemis does; none for a missing or unknown code.
 */
export function jmsTypeCapabilities(code: number | undefined): readonly string[] {
  return (code === undefined ? undefined : jmsTypes[code]) ?? [];
}

/** The kind a dynamic node asks for through its capabilities; a queue when it says nothing. */
export function dynamicKind(capabilities: readonly string[]): 'queue' | 'topic' {
  return capabilities.includes('temporary-topic') || capabilities.includes('topic') ? 'topic' : 'queue';
}
