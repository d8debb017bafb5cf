import type { TypedValue } from '../../core/index.js';
import { T, NEWEST_VERSION, type WireFormatInfo } from './commands.js';
import { DataReader, DataWriter } from './data-stream.js';
import { MAGIC } from './marshal.js';
import type { OpenWireOptions } from './options.js';
import { readTypedMap, writeTypedMap } from './primitives.js';

/** What both sides agreed in the WireFormatInfo exchange. */
export interface AgreedWireFormat {
  readonly version: number;
  /** 0: no inactivity checks. */
  readonly maxInactivityDuration: number;
  readonly initialDelay: number;
}

/**
 * The broker's WireFormatInfo. It offers loose encoding only, without the marshalling cache, size
 * prefixes on and stack traces off: each option is the AND of both sides', so every client then
 * speaks the one encoding Ferry implements, whatever it prefers.
 */
export function wireFormatInfo(options: OpenWireOptions): WireFormatInfo {
  const properties = new Map<string, TypedValue>([
    ['TightEncodingEnabled', { t: 'boolean', v: false }],
    ['CacheEnabled', { t: 'boolean', v: false }],
    ['SizePrefixDisabled', { t: 'boolean', v: false }],
    ['StackTraceEnabled', { t: 'boolean', v: false }],
    ['TcpNoDelayEnabled', { t: 'boolean', v: true }],
    ['MaxInactivityDuration', { t: 'long', v: BigInt(options.maxInactivityDuration) }],
    ['MaxInactivityDurationInitalDelay', { t: 'long', v: BigInt(options.maxInactivityDurationInitialDelay) }],
    ['MaxFrameSize', { t: 'long', v: BigInt(options.maxFrameSize) }],
    ['CacheSize', { t: 'int', v: 0 }],
    ['ProviderName', { t: 'string', v: 'Ferry' }],
  ]);
  const writer = new DataWriter();
  writeTypedMap(writer, properties);
  return { type: T.WIREFORMAT_INFO, magic: MAGIC, version: NEWEST_VERSION, marshalledProperties: writer.finish() };
}

function numberOf(value: TypedValue | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (value.t === 'long') return Number(value.v);
  if (value.t === 'int' || value.t === 'short' || value.t === 'byte') return value.v;
  return undefined;
}

/** The lower version wins, and the shorter inactivity duration (0 on either side switches the checks off). */
export function negotiate(info: WireFormatInfo, options: OpenWireOptions): AgreedWireFormat {
  const bytes = info.marshalledProperties;
  const properties = bytes === null ? undefined : readTypedMap(new DataReader(bytes, 0, bytes.length));
  const theirs = numberOf(properties?.get('MaxInactivityDuration')) ?? options.maxInactivityDuration;
  const theirDelay = numberOf(properties?.get('MaxInactivityDurationInitalDelay')) ?? options.maxInactivityDurationInitialDelay;
  const ours = options.maxInactivityDuration;
  return {
    version: Math.min(NEWEST_VERSION, info.version),
    maxInactivityDuration: theirs <= 0 || ours <= 0 ? 0 : Math.min(theirs, ours),
    initialDelay: Math.min(theirDelay, options.maxInactivityDurationInitialDelay),
  };
}
