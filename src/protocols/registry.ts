import { amqpProtocol } from './amqp/index.js';
import { amqp091Protocol } from './amqp091/index.js';
import { mqttProtocol } from './mqtt/index.js';
import { openwireProtocol } from './openwire/index.js';
import { stompProtocol } from './stomp/index.js';

/** Every protocol Ferry speaks, in the order listeners start. A new protocol is one more entry. */
export const protocolModules = [stompProtocol, amqpProtocol, mqttProtocol, openwireProtocol, amqp091Protocol] as const;

export type ProtocolName = (typeof protocolModules)[number]['name'];
