import { FerryError } from '../errors.js';
import type { ConnectRequest, Principal } from './access.js';
import type { CoreConnection } from './connection.js';

/**
 * Which connection holds each client id: one at a time. A newer connection takes an id over only
 * when its request asks to and may: from a connection of its own user (a client, or a network
 * link, replacing one that has not yet seen its own end) or as the broker itself; from anyone only
 * where its protocol says so (MQTT), and then only from a connection of that protocol, whose
 * clients expect it. Otherwise the id is in use, as it would be without asking.
 */
export class ClientIds {
  private readonly holders = new Map<string, CoreConnection>();

  /** Refuses `request`'s client id while another connection holds it, or has the holder, told, close. */
  claim(request: ConnectRequest, principal: Principal): void {
    const clientId = request.clientId;
    const holder = clientId === undefined ? undefined : this.holders.get(clientId);
    if (holder === undefined) return;
    const sameUser = principal.internal || (!holder.principal.internal && holder.principal.username === principal.username);
    const fromAnyone = request.takeOver === 'from-anyone' && holder.protocol === request.protocol;
    if (!fromAnyone && (request.takeOver === undefined || request.takeOver === false || !sameUser)) {
      throw new FerryError('FERRY_CLIENT_ID_IN_USE', `client id "${clientId!}" is already connected`);
    }
    // the newer connection wins: the older one hears of it, then closes before this one opens
    holder.onEvicted?.();
    holder.close();
  }

  hold(connection: CoreConnection): void {
    if (connection.clientId !== undefined) this.holders.set(connection.clientId, connection);
  }

  release(connection: CoreConnection): void {
    if (connection.clientId !== undefined && this.holders.get(connection.clientId) === connection) this.holders.delete(connection.clientId);
  }
}
