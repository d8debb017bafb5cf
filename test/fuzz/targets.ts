import { amqp091Target } from './amqp091.js';
import { amqpSaslTarget, amqpTarget } from './amqp.js';
import { mqtt311Target, mqtt5Target } from './mqtt.js';
import { openWireTarget } from './openwire.js';
import { stompTarget } from './stomp.js';
import type { FuzzTarget } from './target.js';
import { wsMqttTarget, wsStompTarget } from './websocket.js';
import type { PairProtocol } from './pair.js';

/** Each decoder with the protocol its well-behaved pair speaks (OpenWire's is STOMP: the only OpenWire clients for Node.js are Ferry's own test code, and the JMS client is Java). */
export const fuzzTargets: readonly (FuzzTarget & { readonly pair: PairProtocol })[] = [
  { ...stompTarget, pair: 'stomp' },
  { ...mqtt311Target, pair: 'mqtt' },
  { ...mqtt5Target, pair: 'mqtt' },
  { ...amqpTarget, pair: 'amqp' },
  { ...amqpSaslTarget, pair: 'amqp' },
  { ...amqp091Target, pair: 'amqp091' },
  { ...wsStompTarget, pair: 'stomp' },
  { ...wsMqttTarget, pair: 'mqtt' },
  { ...openWireTarget, pair: 'stomp' },
];
