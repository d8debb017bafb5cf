// Bundles the web console into dist/console: one script and one stylesheet, named by their content's
// hash so the server may let browsers keep them for good, and an index.html that names them.
// Runs in `npm run build`, after the TypeScript check of console/src (tsc -p console/tsconfig.json).
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'dist', 'console');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const result = await build({
  entryPoints: [join(here, 'src', 'main.tsx')],
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'esm',
  target: ['es2022'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: join(out, 'assets'),
  entryNames: '[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
  legalComments: 'linked',
});

const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const script = outputs.find((f) => f.endsWith('.js'));
const style = outputs.find((f) => f.endsWith('.css'));
if (script === undefined || style === undefined) throw new Error(`the console bundle is missing its script or stylesheet: ${outputs.join(', ')}`);
const page = readFileSync(join(here, 'index.html'), 'utf8').replace('{{script}}', `/assets/${script}`).replace('{{style}}', `/assets/${style}`);
writeFileSync(join(out, 'index.html'), page);
writeFileSync(join(out, 'favicon.svg'), readFileSync(join(here, 'favicon.svg')));
