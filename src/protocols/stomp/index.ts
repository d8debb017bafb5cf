export { createStompAdapter } from './adapter.js';
export { defaultStompOptions, type StompOptions } from './options.js';
export { StompParser, encodeFrame, escapeHeader, type StompFrame, type StompParserLimits, type StompVersion } from './codec.js';
export { formatDestination, messageHead, parseDestination, sendToMessage, type TemporaryNames } from './mapping.js';
