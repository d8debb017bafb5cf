export { configSchema, type FerryConfig } from './schema.js';
export { loadConfig, readConfigFile, type Overrides } from './load.js';
