import { open as openFile } from 'node:fs/promises';

/** Inverts the byte at `offset` of the file at `path`, as damage on the disk would. */
export async function flipByte(path: string, offset: number): Promise<void> {
  const file = await openFile(path, 'r+');
  try {
    const one = Buffer.alloc(1);
    await file.read(one, 0, 1, offset);
    one[0] = one[0]! ^ 0xff;
    await file.write(one, 0, 1, offset);
  } finally {
    await file.close();
  }
}
