import type { Server as NetServer } from 'node:net';
import type { Logger } from '../core/index.js';

/** The port a server is bound to, or undefined while it is not listening. */
export function boundPort(server: NetServer | undefined): number | undefined {
  const address = server?.address();
  return typeof address === 'object' && address !== null ? address.port : undefined;
}

/**
 * Binds a server and resolves with its port (the real one when 0 was asked for). A failure to bind
 * rejects; errors after that are logged, since by then the broker is running on it.
 */
export function bind(server: NetServer, port: number, host: string, protocol: string, logger: Logger): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      server.on('error', (err) => logger.error({ event: 'listener.error', protocol, err }, 'listener error'));
      resolve(boundPort(server) ?? port);
    });
  });
}
