import { FerryError, type ErrorCode } from '../../errors.js';
import type { CoreConnection } from '../../core/index.js';
import { T, TX, type DataStructure, type TransactionId, type TransactionInfo, type WireThrowable, type XaTransactionId } from './commands.js';

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

/** How a TransactionInfo is answered: a plain Response, a refusal, or a response of its own. */
export interface TransactionReplies {
  respond(): void;
  refuse(err: unknown): void;
  write(structure: DataStructure): void;
}

/** Carries out a TransactionInfo (local and XA: begin, prepare, commit in one or two phases, rollback, recover, end, forget) in core. */
export function runTransactionCommand(core: CoreConnection, info: TransactionInfo, replies: TransactionReplies): void {
  if (info.transactionType === TX.RECOVER) {
    const data = core.preparedTransactions().flatMap((key) => {
      const xid = xidOf(key);
      return xid === undefined ? [] : [xid];
    });
    replies.write({ type: T.DATA_ARRAY_RESPONSE, commandId: 0, responseRequired: false, correlationId: info.commandId, data });
    return;
  }
  if (info.transactionId === null) throw new FerryError('FERRY_OPENWIRE_MALFORMED', 'TransactionInfo without a transaction id');
  const txId = transactionKey(info.transactionId);
  const answer = (durable: Promise<void> | null, reply: () => void = () => replies.respond()): void => {
    if (durable === null) reply();
    else durable.then(reply, (err: unknown) => replies.refuse(err));
  };
  switch (info.transactionType) {
    case TX.BEGIN:
      // ActiveMQ's client begins an XA transaction it joins (TMJOIN) again on its own connection
      core.begin(txId, { xa: info.transactionId.type === T.XA_TRANSACTION_ID });
      return replies.respond();
    case TX.COMMIT_ONE_PHASE: {
      const durable = core.commit(txId);
      // memoryPolicy block: the commit's Response waits for room, as a synchronous send's does
      const room = core.roomAfterCommit;
      return answer(room === undefined ? durable : (durable ?? Promise.resolve()).then(() => room));
    }
    case TX.PREPARE: {
      const durable = core.prepare(txId);
      // XA_OK: the transaction manager then commits or rolls back in the second phase
      const vote = durable === null ? XA_RDONLY : XA_OK;
      return answer(durable, () => replies.write({ type: T.INTEGER_RESPONSE, commandId: 0, responseRequired: false, correlationId: info.commandId, result: vote }));
    }
    case TX.COMMIT_TWO_PHASE:
      return answer(core.commitPrepared(txId));
    case TX.ROLLBACK:
      core.rollback(txId);
      return replies.respond();
    case TX.END:
    case TX.FORGET:
      // the broker never completes a transaction on its own (no heuristic outcome), so there is nothing to forget
      return replies.respond();
    default:
      throw new FerryError('FERRY_OPENWIRE_PROTOCOL', `unknown transaction operation ${info.transactionType}`);
  }
}
