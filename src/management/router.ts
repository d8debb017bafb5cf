import { FerryError } from '../errors.js';
import type { Principal } from '../core/index.js';
import type { Access } from './permissions.js';

export type Method = 'GET' | 'POST' | 'DELETE';

/** Who may call a route: anyone (the OpenAPI document), anyone the broker admits, monitors, or managers. */
export type Permission = 'public' | 'authenticated' | 'monitor' | 'manage';

export interface ApiRequest {
  readonly principal: Principal;
  readonly access: Access;
  /** The client's address and port, for the log. */
  readonly remoteAddress: string;
  /** The path's `{name}` parts, decoded. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** The JSON body, parsed; FERRY_BAD_REQUEST when it is not JSON. */
  body(): Promise<unknown>;
}

export interface ApiAnswer {
  readonly status: number;
  /** Sent as JSON, unless `text` is given. */
  readonly body?: unknown;
  readonly text?: string;
  readonly contentType?: string;
}

export interface Route {
  readonly method: Method;
  /** `/api/v1/destinations/{kind}/{name}`: each `{x}` is one path segment. */
  readonly path: string;
  readonly permission: Permission;
  handle(request: ApiRequest): ApiAnswer | Promise<ApiAnswer>;
}

interface Compiled {
  readonly route: Route;
  readonly pattern: RegExp;
  readonly names: readonly string[];
}

export type Match = { readonly route: Route; readonly params: Record<string, string> } | { readonly allowed: readonly Method[] } | undefined;

/** Routes by method and path template; a path that only other methods answer gets their list (405). */
export class Router {
  private readonly compiled: Compiled[];

  constructor(readonly routes: readonly Route[]) {
    this.compiled = routes.map((route) => {
      const names: string[] = [];
      const source = route.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_, name: string) => {
        names.push(name);
        return '([^/]+)';
      });
      return { route, pattern: new RegExp(`^${source}$`), names };
    });
  }

  match(method: string, path: string): Match {
    const allowed: Method[] = [];
    for (const { route, pattern, names } of this.compiled) {
      const m = pattern.exec(path);
      if (m === null) continue;
      if (route.method !== method && !(method === 'HEAD' && route.method === 'GET')) {
        allowed.push(route.method);
        continue;
      }
      const params: Record<string, string> = {};
      try {
        names.forEach((name, i) => (params[name] = decodeURIComponent(m[i + 1]!)));
      } catch {
        throw new FerryError('FERRY_BAD_REQUEST', `the path ${path} holds a malformed %-escape`);
      }
      return { route, params };
    }
    return allowed.length > 0 ? { allowed } : undefined;
  }
}
