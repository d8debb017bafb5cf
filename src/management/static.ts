import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `npm run build` puts the web console (console/build.mjs), beside the compiled server. */
export const defaultConsoleDirectory = fileURLToPath(new URL('../../console/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/**
 * The console's pages come from this origin only and run no inline script or style: a message body
 * or queue name that slipped past the page's escaping still could not run. `style-src 'self'` still
 * lets the page set an element's style from script (CSSOM), which is how it positions rows.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE_HEADERS = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
} as const;

/** Paths that belong to the API and the metrics, never to the console. */
function isApiPath(path: string): boolean {
  return path === '/api' || path.startsWith('/api/') || path === '/metrics' || path.startsWith('/metrics/');
}

/**
 * Serves the web console: its files from `directory`, and its `index.html` for any other path that
 * names no file (the console's own pages, `/queues/orders`, which it routes in the browser). Answers
 * GET and HEAD outside `/api` and `/metrics`, without authentication (the console logs in through
 * the API); returns false for every other request, which is the API's to answer.
 *
 * Files under `/assets/` carry a hash of their content in their name, so a browser may keep them
 * for a year; `index.html`, which names them, is checked again on every load.
 */
export async function serveConsole(req: IncomingMessage, res: ServerResponse, pathname: string, directory: string = defaultConsoleDirectory): Promise<boolean> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (isApiPath(pathname)) return false;

  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return notFound(req, res);
  }
  // a path that climbs out of the folder (`/../`, an encoded `%2e%2e`, a NUL) names no file here
  const relative = normalize(decoded).replace(/^([/\\])+/, '');
  const root = directory.endsWith(sep) ? directory : directory + sep;
  const file = join(root, relative);
  if (decoded.includes('\0') || (file + sep).indexOf(root) !== 0) return notFound(req, res);

  if (relative !== '' && relative !== 'index.html' && (await isFile(file))) {
    const immutable = relative.startsWith(`assets${sep}`);
    return sendFile(req, res, file, immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  }
  // A missing script or stylesheet must not come back as the page, or the browser reads HTML as
  // one. The console's own paths hold destination names, dots and all (`/queues/orders.json`):
  // only the asset folder, and scripts and stylesheets named at the top level, are taken as files.
  const segments = decoded.split('/').filter((s) => s !== '');
  if (segments[0] === 'assets' || (segments.length === 1 && /\.(m?js|css|map)$/i.test(segments[0]!))) return notFound(req, res);
  const index = join(root, 'index.html');
  if (!(await isFile(index))) {
    const text = 'The web console is not built: run `npm run build`.\n';
    res.writeHead(404, { ...PAGE_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : text);
    return true;
  }
  return sendFile(req, res, index, 'no-cache');
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function sendFile(req: IncomingMessage, res: ServerResponse, file: string, cacheControl: string): Promise<boolean> {
  const info = await stat(file);
  const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
  const headers = { ...PAGE_HEADERS, 'cache-control': cacheControl, etag, 'content-type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream' };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    res.end();
    return true;
  }
  const body = await readFile(file);
  res.writeHead(200, { ...headers, 'content-length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}

function notFound(req: IncomingMessage, res: ServerResponse): boolean {
  const text = 'Not found\n';
  res.writeHead(404, { ...PAGE_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : text);
  return true;
}
