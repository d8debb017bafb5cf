import type { ErrorCode } from '../../errors.js';
import { T, type DataStructure, type TransactionId, type TransactionInfo, type WireThrowable, type XaTransactionId } from './commands.js';

/** XAResource's votes on a prepare: XA_OK asks for a second phase; XA_RDONLY says the branch did nothing and is over. */
export const XA_OK = 0;
export const XA_RDONLY = 3;

/**
 * XAException's error codes for the refusals that have one (`XAER_NOTA` -4: no such transaction,
 * never begun or already over; `XAER_PROTO` -6: not in a state for this, as a second-phase commit
 * of a branch that was not prepared). Any other refusal reaches the transaction manager as
 * XAER_RMFAIL, the client's code for an exception that is not an XAException.
 */
const xaErrorCodes: Partial<Record<ErrorCode, number>> = {
  FERRY_TX_NOT_FOUND: -4,
  FERRY_TX_STATE: -6,
};

/** A transaction's core id: local ones are the connection's; XA ones are named by their Xid, which any connection may complete. */
export function transactionKey(id: TransactionId): string {
  if (id.type === T.LOCAL_TRANSACTION_ID) return `local:${id['value'] as number}`;
  const xa = id as XaTransactionId;
  return `xa:${xa.formatId}:${(xa.globalTransactionId ?? Buffer.alloc(0)).toString('hex')}:${(xa.branchQualifier ?? Buffer.alloc(0)).toString('hex')}`;
}

/** The Xid of an XA transaction's core id (`xa:<format>:<global hex>:<branch hex>`). */
export function xidOf(key: string): XaTransactionId | undefined {
  const parts = key.split(':');
  if (parts.length !== 4 || parts[0] !== 'xa') return undefined;
  return { type: T.XA_TRANSACTION_ID, formatId: Number(parts[1]), globalTransactionId: Buffer.from(parts[2]!, 'hex'), branchQualifier: Buffer.from(parts[3]!, 'hex') };
}

/**
 * The exception that refuses an XA TransactionInfo as ActiveMQ's broker does: an XAException whose
 * message ends in `xaErrorCode:<n>`, which the client reads back into the XAException it throws to
 * the transaction manager (it cannot build one with its code from the class name and message alone).
 * Undefined for any other command, or a refusal without an XA code.
 */
export function xaThrowable(command: DataStructure, code: ErrorCode, message: string): WireThrowable | undefined {
  if (command.type !== T.TRANSACTION_INFO || (command as TransactionInfo).transactionId?.type !== T.XA_TRANSACTION_ID) return undefined;
  const xaCode = xaErrorCodes[code];
  if (xaCode === undefined) return undefined;
  return { className: 'javax.transaction.xa.XAException', message: `${message} (${code}) xaErrorCode:${xaCode}` };
}
