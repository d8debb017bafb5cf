export { ManagementServer, type ManagementOptions } from './http-server.js';
