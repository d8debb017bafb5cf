export { PostgresStore, type PostgresOptions, type PostgresEvent } from './postgres-store.js';
