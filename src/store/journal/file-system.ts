import fs from 'node:fs';

/**
 * The file operations the journal uses, all asynchronous so the event loop never waits on the
 * disk. Tests pass their own to count syncs or to make a write fail.
 */
export interface JournalFileSystem {
  mkdir(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  open(path: string, flags: string): Promise<number>;
  close(fd: number): Promise<void>;
  size(fd: number): Promise<number>;
  read(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  write(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  fdatasync(fd: number): Promise<void>;
  /** Full fsync, used on the folder so that created and removed files are durable. */
  fsync(fd: number): Promise<void>;
  ftruncate(fd: number, length: number): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Replaces `to` with `from` (the catalog, written whole aside first). */
  rename(from: string, to: string): Promise<void>;
}

function done(resolve: () => void, reject: (err: unknown) => void): (err: NodeJS.ErrnoException | null) => void {
  return (err) => (err === null ? resolve() : reject(err));
}

export const nodeFileSystem: JournalFileSystem = {
  mkdir: (path) => new Promise((resolve, reject) => fs.mkdir(path, { recursive: true }, (err) => (err === null ? resolve() : reject(err)))),
  readdir: (path) => new Promise((resolve, reject) => fs.readdir(path, (err, names) => (err === null ? resolve(names) : reject(err)))),
  open: (path, flags) => new Promise((resolve, reject) => fs.open(path, flags, 0o644, (err, fd) => (err === null ? resolve(fd) : reject(err)))),
  close: (fd) => new Promise((resolve, reject) => fs.close(fd, done(resolve, reject))),
  size: (fd) => new Promise((resolve, reject) => fs.fstat(fd, (err, stats) => (err === null ? resolve(stats.size) : reject(err)))),
  read: (fd, buffer, offset, length, position) =>
    new Promise((resolve, reject) => fs.read(fd, buffer, offset, length, position, (err, n) => (err === null ? resolve(n) : reject(err)))),
  write: (fd, buffer, offset, length, position) =>
    new Promise((resolve, reject) => fs.write(fd, buffer, offset, length, position, (err, n) => (err === null ? resolve(n) : reject(err)))),
  fdatasync: (fd) => new Promise((resolve, reject) => fs.fdatasync(fd, done(resolve, reject))),
  fsync: (fd) => new Promise((resolve, reject) => fs.fsync(fd, done(resolve, reject))),
  ftruncate: (fd, length) => new Promise((resolve, reject) => fs.ftruncate(fd, length, done(resolve, reject))),
  unlink: (path) => new Promise((resolve, reject) => fs.unlink(path, done(resolve, reject))),
  rename: (from, to) => new Promise((resolve, reject) => fs.rename(from, to, done(resolve, reject))),
};

/** Reads `length` bytes at `position`, looping over short reads; fails if the file is shorter. */
export async function readFully(fsys: JournalFileSystem, fd: number, buffer: Buffer, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const n = await fsys.read(fd, buffer, done, length - done, position + done);
    if (n === 0) throw new Error(`the file ended ${length - done} bytes early`);
    done += n;
  }
}

/** Writes all of `length` bytes at `position`, looping over short writes. */
export async function writeFully(fsys: JournalFileSystem, fd: number, buffer: Buffer, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const n = await fsys.write(fd, buffer, done, length - done, position + done);
    if (n <= 0) throw new Error('the file system accepted no bytes');
    done += n;
  }
}

/** Makes the folder's entries (files made, renamed or deleted in it) durable. */
export async function syncDirectory(fsys: JournalFileSystem, dir: string): Promise<void> {
  const fd = await fsys.open(dir, 'r');
  try {
    await fsys.fsync(fd);
  } finally {
    await fsys.close(fd);
  }
}
