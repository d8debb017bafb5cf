/** Calls to the management API over real HTTP with fetch(), for the management tests. */
export interface ApiAnswer<T = Record<string, unknown>> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
  readonly text: string;
}

export const basicAuth = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** A client of one broker's API, optionally as one user. */
export class ApiClient {
  constructor(
    readonly port: number,
    private readonly authorization?: string,
  ) {}

  as(authorization: string | undefined): ApiClient {
    return new ApiClient(this.port, authorization);
  }

  async call<T = Record<string, unknown>>(method: string, path: string, body?: unknown, raw?: string): Promise<ApiAnswer<T>> {
    const headers: Record<string, string> = {};
    if (this.authorization !== undefined) headers['authorization'] = this.authorization;
    if (body !== undefined || raw !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`http://127.0.0.1:${this.port}${path}`, { method, headers, ...(raw !== undefined ? { body: raw } : body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    let parsed: unknown = {};
    if (text !== '' && (res.headers.get('content-type') ?? '').startsWith('application/json')) parsed = JSON.parse(text);
    return { status: res.status, headers: res.headers, body: parsed as T, text };
  }

  get<T = Record<string, unknown>>(path: string): Promise<ApiAnswer<T>> {
    return this.call<T>('GET', path);
  }

  post<T = Record<string, unknown>>(path: string, body: unknown = {}): Promise<ApiAnswer<T>> {
    return this.call<T>('POST', path, body);
  }

  delete<T = Record<string, unknown>>(path: string): Promise<ApiAnswer<T>> {
    return this.call<T>('DELETE', path);
  }
}
