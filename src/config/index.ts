export { configSchema, type FerryConfig } from './schema.js';
export { loadConfig, readConfigFile, type ConfigValue, type OverrideOrigins, type Overrides } from './load.js';
