export { HaLease, type HaLeaseOptions, type HaRole } from './lease.js';
export { LeaseFile, LEASE_FILE, type LeaseRecord, type LeaseStore } from './lease-file.js';
export { PostgresLease } from './postgres-lease.js';
export { fencedFileSystem } from './fenced-file-system.js';
export { BackupStatusServer } from './backup-status.js';
