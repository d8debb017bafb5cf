import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import * as tls from 'node:tls';
import { test } from 'node:test';
import { SocketConnection } from '../../src/transport/index.js';
import { makeCertificates } from '../helpers/tls.js';

/** A SocketConnection on one end of a real TCP connection, and everything the other end reads. */
async function pair(): Promise<{ connection: SocketConnection; received: () => Buffer; peer: Socket; close: () => Promise<void> }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const peer = connect(port, '127.0.0.1');
  const [socket] = await accepted;
  const connection = new SocketConnection(socket);
  connection.setHandler({ data: () => {}, closed: () => {} });
  const chunks: Buffer[] = [];
  peer.on('data', (c: Buffer) => chunks.push(c));
  return {
    connection,
    peer,
    received: () => Buffer.concat(chunks),
    close: async () => {
      peer.destroy();
      connection.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** Writes `length` bytes of `fill` at a time, keeping them to compare with what arrives. */
function recorder(connection: SocketConnection): { sent: Buffer[]; write: (fill: number, length: number) => void } {
  const sent: Buffer[] = [];
  return {
    sent,
    write: (fill, length) => {
      const data = Buffer.alloc(length, fill);
      connection.write(data);
      sent.push(data);
    },
  };
}

/** Waits until the peer has read as many bytes as `expected` holds, and checks they are those bytes. */
async function arrivedWhole(received: () => Buffer, peer: Socket, expected: Buffer): Promise<void> {
  while (received().length < expected.length) await once(peer, 'data');
  assert.ok(received().equals(expected));
}

/**
 * Waits until this pass of the event loop has ended, and with it what a connection held to its end:
 * the pass's end may be armed by a write after this call, so it is the next pass's check phase that
 * resolves.
 */
function nextPass(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

/** Waits for the end of this turn (the callbacks queued with process.nextTick), within the same pass. */
function nextTick(): Promise<void> {
  return new Promise((resolve) => process.nextTick(resolve));
}

test('writes small and large, strings and reserved room, in one turn and across turns, arrive whole and in order', { timeout: 10_000 }, async () => {
  const { connection, received, peer, close } = await pair();
  const expected: Buffer[] = [];
  const write = (data: Buffer | string): void => {
    connection.write(data);
    expected.push(Buffer.from(data));
  };
  let seed = 1;
  const bytes = (n: number): Buffer => {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    return b;
  };
  for (let turn = 0; turn < 4; turn++) {
    // enough small writes to fill more than one slab, with large ones and strings between them
    for (let i = 0; i < 200; i++) {
      write(bytes(i % 7 === 0 ? 4 : 1000 + i));
      if (i % 50 === 0) write(bytes(20_000));
      if (i % 60 === 0) write('\n');
      if (i % 30 === 0) {
        const content = bytes(700);
        const room = connection.reserve(content.length);
        assert.ok(room !== undefined);
        content.copy(room);
        connection.sendReserved();
        expected.push(content);
      }
    }
    assert.equal(connection.reserve(1 << 20), undefined, 'no room reserved for a frame that goes as it is');
    await nextPass();
  }
  await arrivedWhole(received, peer, Buffer.concat(expected));
  await close();
});

test('the first write of a turn to an idle connection leaves at once, written or reserved; the rest of the turn is joined and leaves at its end', { timeout: 10_000 }, async () => {
  const { connection, received, peer, close } = await pair();
  const first = Buffer.alloc(300, 1);
  const second = Buffer.alloc(200, 2);
  const third = Buffer.alloc(100, 3);
  const fourth = Buffer.alloc(50, 4);
  const fifth = Buffer.alloc(20, 5);
  try {
    connection.write(first);
    // handed to the kernel already: nothing of it waits in the connection or the socket
    assert.equal(connection.pendingBytes, 0);
    connection.write(second);
    const room = connection.reserve(third.length);
    assert.ok(room !== undefined);
    third.copy(room);
    connection.sendReserved();
    assert.equal(connection.pendingBytes, second.length + third.length, 'the later writes of the turn wait for its end');
    await nextPass();
    // that turn wrote more than once, so this one's single write waits for its end too (see below)
    connection.write(fifth);
    await nextPass();
    // idle again: room for the first write is lent, and sending it hands it to the kernel at once
    const lent = connection.reserve(fourth.length);
    assert.ok(lent !== undefined);
    fourth.copy(lent);
    connection.sendReserved();
    assert.equal(connection.pendingBytes, 0);
    await nextPass();
    await arrivedWhole(received, peer, Buffer.concat([first, second, third, fifth, fourth]));
  } finally {
    await close();
  }
});

test('under load the first write of a turn is joined too: after a turn of several writes the next one leaves whole at its end, and after a turn of one write the next first write leaves at once again', { timeout: 10_000 }, async () => {
  const { connection, received, peer, close } = await pair();
  const { sent, write } = recorder(connection);
  try {
    write(1, 300);
    write(2, 300);
    await nextPass();
    // the last turn wrote twice: this one's first write waits for the turn's end, with the rest
    const room = connection.reserve(10);
    assert.ok(room !== undefined, 'a busy connection offers room for its first write');
    room.fill(9);
    connection.sendReserved();
    sent.push(Buffer.alloc(10, 9));
    write(3, 200);
    assert.equal(connection.pendingBytes, 210);
    await nextPass();
    // one write in that turn (room and a write count as two): now one write alone
    write(4, 100);
    await nextPass();
    write(5, 100);
    assert.equal(connection.pendingBytes, 0, 'after a turn of one write, the next first write leaves at once');
    await nextPass();
    await arrivedWhole(received, peer, Buffer.concat(sent));
  } finally {
    await close();
  }
});

test('after a write in this pass of the event loop, a small turn waits for the pass to end and leaves with the pass\'s other turns; a large turn leaves at its own end', { timeout: 10_000 }, async () => {
  const { connection, received, peer, close } = await pair();
  const { sent, write } = recorder(connection);
  try {
    // as when ten producers' sends, each read in a callback of its own, go to one consumer
    write(1, 300);
    assert.equal(connection.pendingBytes, 0, 'the first write of the pass leaves at once');
    await nextTick();
    write(2, 300);
    await nextTick();
    write(3, 300);
    await nextTick();
    assert.equal(connection.pendingBytes, 600, 'the later turns of the pass are held to its end');
    await nextPass();
    assert.equal(connection.pendingBytes, 0);
    write(4, 100);
    await nextTick();
    for (let i = 0; i < 20; i++) write(5, 1000);
    await nextTick();
    assert.equal(connection.pendingBytes, 0, 'a turn of 16 KiB or more is worth a write of its own');
    await nextPass();
    await arrivedWhole(received, peer, Buffer.concat(sent));
  } finally {
    await close();
  }
});

/** `size` bytes of a pattern that differs from turn to turn, so a reused buffer would show. */
function pattern(n: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (n * 31 + i) & 0xff;
  return b;
}

test('the first writes of turns to idle connections are built in one lent buffer, turn after turn, and arrive as written', { timeout: 10_000 }, async () => {
  const { connection, received, peer, close } = await pair();
  const sent: Buffer[] = [];
  const buffers = new Set<ArrayBufferLike>();
  try {
    for (let n = 0; n < 50; n++) {
      const content = pattern(n, 100 + n);
      const room = connection.reserve(content.length);
      assert.ok(room !== undefined);
      buffers.add(room.buffer);
      content.copy(room);
      connection.sendReserved();
      sent.push(content);
      await nextPass();
    }
    assert.equal(buffers.size, 1, 'no buffer of its own for each first write');
    await arrivedWhole(received, peer, Buffer.concat(sent));
  } finally {
    await close();
  }
});

test('room lent to one connection and not yet sent is sent before the room is lent to another', { timeout: 10_000 }, async () => {
  const a = await pair();
  const b = await pair();
  try {
    const forA = pattern(1, 500);
    const forB = pattern(2, 400);
    const roomA = a.connection.reserve(forA.length)!;
    forA.copy(roomA);
    // a caller that fills its room and writes elsewhere before sending it: the shared room is not overwritten
    const roomB = b.connection.reserve(forB.length)!;
    forB.copy(roomB);
    b.connection.sendReserved();
    a.connection.sendReserved();
    await arrivedWhole(a.received, a.peer, forA);
    await arrivedWhole(b.received, b.peer, forB);
  } finally {
    await a.close();
    await b.close();
  }
});

test("lent room the kernel could not take at once stays the socket's, and the next first write is built elsewhere", { timeout: 60_000 }, async () => {
  const { connection, received, peer, close } = await pair();
  const sent: Buffer[] = [];
  try {
    peer.pause();
    let first: ArrayBufferLike | undefined;
    // one first write per turn until the kernel's buffers are full and the socket keeps what it was given
    for (let n = 0; connection.pendingBytes === 0; n++) {
      assert.ok(n < 20_000, 'the kernel kept taking writes from a peer that does not read');
      const content = pattern(n, 7000);
      const room = connection.reserve(content.length);
      assert.ok(room !== undefined);
      first ??= room.buffer;
      content.copy(room);
      connection.sendReserved();
      sent.push(content);
      await nextPass();
    }
    peer.resume();
    const all = Buffer.concat(sent);
    // every byte as written: the buffer the socket kept was not written over by later turns
    await arrivedWhole(received, peer, all);
    await nextPass();
    const room = connection.reserve(10);
    assert.ok(room !== undefined);
    assert.notEqual(room.buffer, first, 'the buffer the socket kept is not lent again');
    room.fill(7);
    connection.sendReserved();
    while (received().length < all.length + 10) await once(peer, 'data');
    assert.ok(received().subarray(all.length).equals(Buffer.alloc(10, 7)));
  } finally {
    await close();
  }
});

test('a slab the socket took whole is used again in a later turn; one the socket kept is not, and every byte arrives as written', { timeout: 60_000 }, async () => {
  const { connection, received, peer, close } = await pair();
  const sent: Buffer[] = [];
  // two writes a turn keep the connection busy, so every write of a turn goes into its slab
  const busyTurn = async (n: number): Promise<ArrayBufferLike> => {
    const one = pattern(2 * n, 3000);
    const two = pattern(2 * n + 1, 3000);
    connection.write(one);
    const room = connection.reserve(two.length);
    assert.ok(room !== undefined);
    two.copy(room);
    connection.sendReserved();
    sent.push(one, two);
    await nextPass();
    return room.buffer;
  };
  try {
    await busyTurn(0);
    const slabs = new Set<ArrayBufferLike>();
    for (let n = 1; n < 20; n++) slabs.add(await busyTurn(n));
    assert.ok(slabs.size <= 2, `${slabs.size} slabs for 19 turns`);
    peer.pause();
    let n = 20;
    while (connection.pendingBytes === 0) {
      assert.ok(n < 20_000, 'the kernel kept taking writes from a peer that does not read');
      await busyTurn(n++);
    }
    // a few more turns while the socket holds what it was given
    for (let i = 0; i < 5; i++) await busyTurn(n++);
    peer.resume();
    await arrivedWhole(received, peer, Buffer.concat(sent));
  } finally {
    await close();
  }
});

test('over TLS the first write of a turn is lent no room (the socket reports every write done later, so it would keep each buffer) and still leaves whole', { timeout: 20_000 }, async () => {
  const certs = makeCertificates();
  const server = tls.createServer({ key: certs.pem(certs.serverKey), cert: certs.pem(certs.serverCert) });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const accepted = once(server, 'secureConnection') as Promise<[tls.TLSSocket]>;
  const peer = tls.connect({ port, host: '127.0.0.1', ca: certs.pem(certs.ca), servername: 'localhost' });
  const chunks: Buffer[] = [];
  peer.on('data', (c: Buffer) => chunks.push(c));
  const [socket] = await accepted;
  const connection = new SocketConnection(socket);
  connection.setHandler({ data: () => {}, closed: () => {} });
  try {
    const sent: Buffer[] = [];
    for (let n = 0; n < 5; n++) {
      // wait until the last write is reported done, so the connection is idle again
      while (connection.pendingBytes > 0) await nextPass();
      assert.equal(connection.reserve(100), undefined);
      const frame = pattern(n, 100);
      connection.write(frame);
      sent.push(frame);
      await nextPass();
    }
    const all = Buffer.concat(sent);
    while (Buffer.concat(chunks).length < all.length) await once(peer, 'data');
    assert.ok(Buffer.concat(chunks).equals(all));
  } finally {
    peer.destroy();
    connection.destroy();
    server.close();
  }
});
