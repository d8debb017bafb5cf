import type { Broker } from '../../core/index.js';

export function listSubscriptions(broker: Broker): { items: Record<string, unknown>[] } {
  const items = broker.admin.durableList().sort((a, b) => (a.owner === b.owner ? (a.name < b.name ? -1 : 1) : a.owner < b.owner ? -1 : 1));
  return { items: items.map((s) => ({ ...s, selector: s.selector ?? null })) };
}
