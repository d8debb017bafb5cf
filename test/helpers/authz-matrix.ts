/**
 * The users and rights of the login/permission matrix, the same on every protocol: one user with
 * every right on `matrix.>`, and one user short of each right in turn. `open.>` is everyone's, so a
 * refused user can show that the connection still works for what it may do.
 */
import assert from 'node:assert/strict';
import type { ConfigValue } from '../../src/config/index.js';
import { startSecureBroker, type SecureBroker, type TestUser } from './security.js';
import { eventually } from './raw-stomp.js';

const all = ['writers', 'readers', 'creators', 'browsers'] as const;
const without = (group: string): string[] => all.filter((g) => g !== group);

export const MATRIX_USERS: Record<string, TestUser> = {
  full: { password: 'full-secret', groups: [...all] },
  nowrite: { password: 'nowrite-secret', groups: without('writers') },
  noread: { password: 'noread-secret', groups: without('readers') },
  nocreate: { password: 'nocreate-secret', groups: without('creators') },
  nobrowse: { password: 'nobrowse-secret', groups: without('browsers') },
};

const rights = { read: ['readers'], write: ['writers'], create: ['creators'], browse: ['browsers'] };
const everyone = { read: ['*'], write: ['*'], create: ['*'], browse: ['*'] };

export const MATRIX_RIGHTS: ConfigValue = [
  { queue: 'matrix.>', ...rights },
  { topic: 'matrix.>', ...rights },
  { queue: 'open.>', ...everyone },
  { topic: 'open.>', ...everyone },
  { temporary: true, ...everyone },
];

export interface MatrixBroker extends SecureBroker {
  readonly logLines: Record<string, unknown>[];
}

export async function startMatrixBroker(): Promise<MatrixBroker> {
  const logLines: Record<string, unknown>[] = [];
  const broker = await startSecureBroker(
    // no growing wait between the refused logins the matrix makes on purpose
    { users: MATRIX_USERS, authorization: MATRIX_RIGHTS, settings: { 'security.failedLoginDelay.initial': 0, 'security.failedLoginDelay.max': 0 } },
    { logLines },
  );
  return { ...broker, logLines };
}

export const password = (user: string): string => MATRIX_USERS[user]!.password;

/**
 * Waits for the broker's `connection.refused` line for `user` over `protocol`: it names the user and
 * the client's address, and no line the broker wrote holds the password tried.
 */
export async function assertRefusalLogged(broker: MatrixBroker, protocol: string, user: string, triedPassword: string): Promise<void> {
  // core logs a refused connect; AMQP refuses during SASL, before any connect, and logs it itself
  const refusal = (l: Record<string, unknown>): boolean =>
    (l['event'] === 'connection.refused' && l['protocol'] === protocol) || (protocol === 'amqp' && l['event'] === 'amqp.sasl-refused');
  const line = (): Record<string, unknown> | undefined => broker.logLines.find((l) => refusal(l) && l['user'] === user);
  await eventually(`a refused-login line for ${user} over ${protocol}`, () => line() !== undefined);
  assert.match(String(line()!['remoteAddress'] ?? line()!['remote']), /127\.0\.0\.1/);
  for (const l of broker.logLines) assert.ok(!JSON.stringify(l).includes(triedPassword), `a log line holds the password: ${JSON.stringify(l)}`);
}
