import type { JournalFileSystem } from '../store/index.js';

/**
 * The journal's file operations with the lease checked before each one that changes the folder
 * (a write, a new or truncated file, a deleted one): a broker that can no longer be sure it holds
 * the lease fails the write instead of making it, and the sends it carried are never confirmed.
 */
export function fencedFileSystem(inner: JournalFileSystem, guard: () => void): JournalFileSystem {
  // a refusal is a rejected promise, as a failed write would be, whoever calls and however
  const checked = <T>(operation: () => Promise<T>): Promise<T> => {
    try {
      guard();
    } catch (err) {
      return Promise.reject(err);
    }
    return operation();
  };
  return {
    ...inner,
    open: (path, flags) => (flags === 'r' ? inner.open(path, flags) : checked(() => inner.open(path, flags))),
    write: (fd, buffer, offset, length, position) => checked(() => inner.write(fd, buffer, offset, length, position)),
    ftruncate: (fd, length) => checked(() => inner.ftruncate(fd, length)),
    unlink: (path) => checked(() => inner.unlink(path)),
    rename: (from, to) => checked(() => inner.rename(from, to)),
  };
}
