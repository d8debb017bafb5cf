import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { isFerryError } from '../../src/errors.js';
import { PostgresStore, type PostgresEvent, type Store } from '../../src/store/index.js';
import { startPostgres } from '../helpers/postgres.js';
import { storeConformance } from './store-conformance.js';

const cluster = await startPostgres();
const skip = typeof cluster === 'string' ? cluster : false;
if (typeof cluster !== 'string') after(() => cluster.stop());

if (typeof cluster !== 'string') {
  storeConformance('PostgresStore', async () => {
    const url = await cluster.createDatabase();
    const open = (): PostgresStore => new PostgresStore({ url, poolSize: 2 });
    let current: Store = open();
    return {
      store: current,
      reopen: async () => {
        await current.close();
        current = open();
        return current;
      },
      cleanup: () => current.close(),
    };
  });
} else {
  test('PostgresStore conformance', { skip }, () => undefined);
}
