import type { ProtocolModule } from '../../transport/index.js';
import { createOpenWireAdapter } from './adapter.js';
import { openwireOptionsSchema, type OpenWireOptions } from './options.js';

export const openwireProtocol: ProtocolModule<OpenWireOptions, 'openwire'> = {
  name: 'openwire',
  title: 'OpenWire',
  defaultPort: 61616,
  defaultTlsPort: 61617,
  webSocketProtocols: [],
  optionsSchema: openwireOptionsSchema,
  createAdapter: createOpenWireAdapter,
  sharedPort: (options) => (options.detectProtocols ? { detectTimeout: options.negotiateTimeout } : undefined),
};

export { createOpenWireAdapter } from './adapter.js';
export { defaultOpenWireOptions, type OpenWireOptions } from './options.js';
export { LooseCodec, CommandSplitter } from './marshal.js';
export { T as OpenWireTypes } from './commands.js';
