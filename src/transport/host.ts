import { isIP } from 'node:net';

/** `name`, `name:port`, `[v6]` or `[v6]:port`: nothing else is a Host header a browser sends. */
const HOST_HEADER = /^(?:\[([0-9a-f:.]+)\]|([^:[\]/@?#\\\s]+))(?::\d*)?$/i;

/**
 * Whether a request's `Host` header names the broker in a way no other site can borrow: an IP
 * address; `localhost` or a name under it, which browsers resolve to loopback themselves (RFC 6761);
 * or a name in `allowed` (`broker.example`; `.example.com` for it and every name under it; `*` for
 * any). Any other name may be one whose page a browser loaded and whose DNS record was then pointed
 * at the broker (DNS rebinding): the browser takes the broker for that page's own site, so neither
 * the same-origin rule nor a comparison of `Origin` with `Host` keeps the page out. A request with
 * no Host header at all is no browser's.
 */
export function hostAllowed(host: string | undefined, allowed: readonly string[]): boolean {
  if (host === undefined) return true;
  const parts = HOST_HEADER.exec(host.trim());
  if (parts === null) return false;
  if (parts[1] !== undefined) return isIP(parts[1]) === 6;
  const name = parts[2]!.toLowerCase().replace(/\.$/, '');
  if (isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost')) return true;
  return allowed.some((entry) => {
    const listed = entry.trim().toLowerCase().replace(/\.$/, '');
    if (listed === '*') return true;
    return listed.startsWith('.') ? name === listed.slice(1) || name.endsWith(listed) : name === listed;
  });
}
