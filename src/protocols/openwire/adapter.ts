import type { BrokerAccess, Logger } from '../../core/index.js';
import type { ProtocolAdapter, TransportConnection } from '../../transport/index.js';
import { ADVISORY_PREFIX, Advisories, destinationAdvisoryTopic, destinationInfo } from './advisories.js';
import { watchOtherProtocols } from './foreign-advisories.js';
import { watchMessageOutcomes } from './message-advisories.js';
import { T } from './commands.js';
import { OpenWireConnection } from './connection.js';
import { MAGIC } from './marshal.js';
import type { OpenWireOptions } from './options.js';
import { ProducerAudit } from './producer-audit.js';

/** True when the first bytes are a size-prefixed WireFormatInfo: the 4-byte size, type 1, then "ActiveMQ". */
function detect(firstBytes: Buffer): boolean | undefined {
  const n = Math.min(firstBytes.length, 13);
  if (n > 4 && firstBytes[4] !== T.WIREFORMAT_INFO) return false;
  for (let i = 5; i < n; i++) if (firstBytes[i] !== MAGIC[i - 5]) return false;
  return n < 13 ? undefined : true;
}

export function createOpenWireAdapter(options: OpenWireOptions, logger: Logger): ProtocolAdapter {
  // one per listener: what its clients open and make, announced to all of them
  const advisories = new Advisories();
  const audit = new ProducerAudit();
  let seeded = false;
  let unwatch: (() => void) | undefined;
  let unwatchOthers: (() => void) | undefined;
  let unwatchOutcomes: (() => void) | undefined;
  return {
    name: 'openwire',
    detect,
    webSocketProtocols: [],
    attach(connection: TransportConnection, broker: BrokerAccess): void {
      if (!seeded) {
        // before the first client after a start can resend anything: what the broker recovered
        audit.keepIn(broker.sequenceMarks('openwire'));
        audit.seed(broker.waitingMessageIds());
        seeded = true;
        // ActiveMQ.Advisory.Queue and .Topic: every queue and topic, however it was made
        unwatch = broker.watchDestinations({
          added: (destination) => {
            if (!destination.name.startsWith(ADVISORY_PREFIX)) advisories.announce(destinationAdvisoryTopic(destination), `${destination.kind}:${destination.name}`, destinationInfo(destination, null, true));
          },
          removed: (destination) => advisories.withdraw(destinationAdvisoryTopic(destination), `${destination.kind}:${destination.name}`, destinationInfo(destination, null, false)),
        });
        unwatchOthers = watchOtherProtocols(broker, advisories);
        unwatchOutcomes = watchMessageOutcomes(broker, advisories);
      }
      new OpenWireConnection(connection, broker, options, advisories, audit, logger);
    },
    close(): void {
      unwatch?.();
      unwatchOthers?.();
      unwatchOutcomes?.();
    },
  };
}
