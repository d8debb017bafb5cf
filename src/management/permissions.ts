import type { Principal } from '../core/index.js';

/** Group names holding a management permission; `*` is everyone (the anonymous client too, where one is let in). */
export interface ManagementPermissions {
  /** Every GET: figures, lists, the store report, metrics. */
  readonly monitor: readonly string[];
  /** Every change, and reading message bodies. */
  readonly manage: readonly string[];
}

/** What a principal may do through the API. */
export interface Access {
  readonly monitor: boolean;
  readonly manage: boolean;
}

/** Without destination rights configured everyone may do everything; with them, admins manage and monitors look. */
export function defaultPermissions(authorizationConfigured: boolean): ManagementPermissions {
  return authorizationConfigured ? { monitor: ['admins', 'monitors'], manage: ['admins'] } : { monitor: ['*'], manage: ['*'] };
}

function holds(groups: readonly string[], principal: Principal): boolean {
  return groups.includes('*') || groups.some((g) => principal.groups.includes(g));
}

/** Manage implies monitor: whoever may change a thing may look at it. */
export function accessOf(permissions: ManagementPermissions, principal: Principal): Access {
  const manage = holds(permissions.manage, principal);
  return { manage, monitor: manage || holds(permissions.monitor, principal) };
}
