import { FerryError } from '../errors.js';
import type { Authorizer, Destination, Operation, Principal } from '../core/index.js';

/** The rights an entry grants, as ActiveMQ's authorization entries name them, plus browse and create. */
export type Right = 'read' | 'write' | 'create' | 'browse' | 'admin';

export interface AuthorizationEntry {
  readonly queue?: string | undefined;
  readonly topic?: string | undefined;
  readonly temporary?: true | undefined;
  readonly read?: readonly string[] | undefined;
  readonly write?: readonly string[] | undefined;
  readonly create?: readonly string[] | undefined;
  readonly browse?: readonly string[] | undefined;
  readonly admin?: readonly string[] | undefined;
}

/** Deleting a durable subscription is an administrative act, as in ActiveMQ. */
const RIGHT_OF: Record<Operation, Right> = { send: 'write', consume: 'read', browse: 'browse', create: 'create', delete: 'admin', admin: 'admin' };

const VERB: Record<Operation, string> = { send: 'send to', consume: 'consume from', browse: 'browse', create: 'create', delete: 'delete', admin: 'manage' };

/** Group name that stands for every principal. */
export const EVERYONE = '*';

/**
 * True when every name `pattern` matches is also matched by `entry` (both dotted, with `*` for one
 * level and `>` for the rest): a subscription to `orders.>` needs an entry that covers all of it,
 * and `orders.*` does not.
 */
export function patternCovers(entry: string, pattern: string): boolean {
  const e = entry.split('.');
  const p = pattern.split('.');
  // as in MQTT [MQTT-4.7.2-1], a leading wildcard never reaches the broker's own `$` topics
  // (`$SYS...`): they are granted only by entries that name them
  if (p[0]!.startsWith('$') && (e[0] === '*' || e[0] === '>')) return false;
  for (let i = 0; i < e.length; i++) {
    const level = e[i]!;
    if (level === '>') return p.length > i;
    if (i >= p.length) return false;
    const asked = p[i]!;
    if (asked === '>') return false;
    if (level === '*') continue;
    if (asked === '*' || asked !== level) return false;
  }
  return e.length === p.length;
}

interface CompiledEntry {
  readonly kind: 'queue' | 'topic' | 'temporary';
  readonly pattern: string;
  readonly groups: Readonly<Record<Right, ReadonlySet<string>>>;
}

/** Answers kept per principal, so a producer's thousandth send to a queue costs one map look-up. */
const MEMO_LIMIT = 1024;

/**
 * The authorizer of `security.authorization`: a right is granted when any entry that covers the
 * destination gives it to one of the principal's groups (the union, as ActiveMQ's
 * authorizationEntries combine); nothing is granted that no entry gives. Temporary destinations
 * are matched only by `temporary` entries.
 */
export class DestinationAuthorizer implements Authorizer {
  private readonly entries: readonly CompiledEntry[];
  private readonly memo = new WeakMap<Principal, Map<string, boolean>>();

  constructor(entries: readonly AuthorizationEntry[]) {
    this.entries = entries.map((e) => ({
      kind: e.temporary === true ? 'temporary' : e.queue !== undefined ? 'queue' : 'topic',
      pattern: e.queue ?? e.topic ?? '>',
      groups: {
        read: new Set(e.read ?? []),
        write: new Set(e.write ?? []),
        create: new Set(e.create ?? []),
        browse: new Set(e.browse ?? []),
        admin: new Set(e.admin ?? []),
      },
    }));
  }

  authorize(principal: Principal, operation: Operation, destination: Destination): void {
    const right = RIGHT_OF[operation];
    // temporary destinations are matched by their own entries: their answers are kept apart from a topic's or queue's of the same name
    const key = `${right} ${destination.temporary === true ? 'temporary' : destination.kind} ${destination.name}`;
    let answers = this.memo.get(principal);
    let allowed = answers?.get(key);
    if (allowed === undefined) {
      allowed = this.allows(principal, right, destination);
      if (answers === undefined) this.memo.set(principal, (answers = new Map()));
      if (answers.size >= MEMO_LIMIT) answers.clear();
      answers.set(key, allowed);
    }
    if (!allowed) {
      const who = principal.username === undefined ? 'an anonymous client' : `user "${principal.username}"`;
      const what = `${destination.temporary === true ? 'temporary ' : ''}${destination.kind} "${destination.name}"`;
      throw new FerryError('FERRY_NOT_AUTHORIZED', `${who} may not ${VERB[operation]} ${what} (no ${right} right)`);
    }
  }

  private allows(principal: Principal, right: Right, destination: Destination): boolean {
    const kind = destination.temporary === true ? 'temporary' : destination.kind;
    for (const entry of this.entries) {
      if (entry.kind !== kind) continue;
      if (kind !== 'temporary' && !patternCovers(entry.pattern, destination.name)) continue;
      const groups = entry.groups[right];
      if (groups.has(EVERYONE)) return true;
      for (const group of principal.groups) if (groups.has(group)) return true;
    }
    return false;
  }
}
