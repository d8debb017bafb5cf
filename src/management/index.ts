export { ManagementServer, type ManagementOptions } from './http-server.js';
export { defaultPermissions, type ManagementPermissions } from './permissions.js';
