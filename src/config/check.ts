import type { FerryConfig } from './schema.js';

/** A mistake that only shows across keys, once each has a valid value on its own. */
export interface ConfigProblem {
  /** The dotted key to blame. */
  readonly key: string;
  readonly problem: string;
  /** Another key the mistake involves, blamed instead when only it was set by an option. */
  readonly other?: string;
}

const anyAddress = new Set(['0.0.0.0', '::', '']);

/** Two listeners on one address and port: the second would fail to bind, so the start stops before either does. */
function listenerClash(config: FerryConfig): ConfigProblem | undefined {
  const seen: { name: string; host: string; port: number }[] = [];
  for (const [name, listener] of Object.entries(config.listeners)) {
    // port 0 picks a free port for each listener, so zeros never clash
    if (!listener.enabled || listener.port === 0) continue;
    for (const other of seen) {
      if (other.port !== listener.port) continue;
      if (other.host === listener.host || anyAddress.has(other.host) || anyAddress.has(listener.host)) {
        const key = `listeners.${name}.port`;
        const otherKey = `listeners.${other.name}.port`;
        return { key, other: otherKey, problem: `${otherKey} and ${key} are both ${listener.port}; give each listener its own port, or "off"` };
      }
    }
    seen.push({ name, host: listener.host, port: listener.port });
  }
  return undefined;
}

/** What a composite destination names must be a destination a message can be sent to. */
function compositeProblem(config: FerryConfig): ConfigProblem | undefined {
  const names = new Set<string>();
  const composites = config.destinations.composites;
  for (let i = 0; i < composites.length; i++) {
    const composite = composites[i]!;
    const key = `destinations.composites.${i}`;
    if (composite.name.trim() === '') return { key: `${key}.name`, problem: 'names no destination' };
    if (/[*>]/.test(composite.name)) return { key: `${key}.name`, problem: `a composite is sent to, so its name cannot have wildcards: "${composite.name}"` };
    const own = `${composite.kind}://${composite.name}`;
    if (names.has(own)) return { key: `${key}.name`, problem: `${own} is configured twice` };
    names.add(own);
    for (let j = 0; j < composite.forwardTo.length; j++) {
      const target = composite.forwardTo[j]!;
      const name = target.slice(target.indexOf('://') + 3);
      const at = `${key}.forwardTo.${j}`;
      if (name.trim() === '') return { key: at, problem: `"${target}" names no destination` };
      if (/[*>]/.test(name)) return { key: at, problem: `a target is sent to, so it cannot have wildcards: "${target}"` };
      if (target === own) return { key: at, problem: `${own} forwards to itself` };
    }
  }
  return undefined;
}

/** A TLS listener needs a certificate and its key to present; requiring or revoking client certificates needs the authorities they are verified against. */
function tlsProblem(config: FerryConfig): ConfigProblem | undefined {
  for (const [name, listener] of Object.entries(config.listeners)) {
    if (!name.endsWith('Tls') || !listener.enabled) continue;
    const missing = config.tls.cert === undefined ? 'tls.cert' : config.tls.key === undefined ? 'tls.key' : undefined;
    if (missing !== undefined) return { key: missing, other: `listeners.${name}.port`, problem: `listeners.${name} is on, so ${missing} must name a PEM file` };
    // without a CA of its own Node verifies client certificates against the public authorities, which would let in anyone who buys one
    const needsCa = config.tls.requireCert ? 'tls.requireCert' : config.tls.requireCertHttps ? 'tls.requireCertHttps' : config.tls.crl !== undefined ? 'tls.crl' : undefined;
    if (needsCa !== undefined && config.tls.ca === undefined) return { key: needsCa, other: 'tls.ca', problem: `${needsCa} is set, so tls.ca must name the PEM file of the authorities client certificates are verified against` };
  }
  return undefined;
}

/** The first mistake across keys, if any. */
export function checkConfig(config: FerryConfig): ConfigProblem | undefined {
  return listenerClash(config) ?? tlsProblem(config) ?? compositeProblem(config);
}
