import { Gauge, type Registry } from 'prom-client';
import type { HaView } from './controls/broker.js';

/**
 * The broker's part in high availability. A backup's management port answers 503 to every request,
 * /metrics too, so these series come from a broker that serves: a primary, or one without HA.
 */
export function registerHaMetrics(registry: Registry, ha: () => HaView): void {
  new Gauge({
    name: 'ferry_ha_primary',
    help: 'Whether this broker holds the high-availability lease and serves (1); 0 without ha.role auto, or once it lost the lease',
    registers: [registry],
    collect() {
      this.set(ha().role === 'primary' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'ferry_ha_lease_age_seconds',
    help: 'Of a primary, seconds since its last successful lease renewal began; it fences itself at 80% of ha.leaseDuration (0 without a lease)',
    registers: [registry],
    collect() {
      this.set((ha().leaseAgeMs ?? 0) / 1000);
    },
  });
}
