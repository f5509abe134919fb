import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveCheckpoint } from '../train/checkpoint.js';

export interface ServeOptions {
  /** A run directory (its latest checkpoint) or an epoch-NNNN directory; none: the page alone. */
  run?: string | undefined;
  /** Dataset files offered beside the run's own test sets. */
  data?: string[];
  port: number;
  host: string;
  /**
   * Send the cross-origin-isolation headers (COOP/COEP), without which a page has no shared memory
   * and mpno runs on one thread (default true).
   */
  isolation?: boolean;
}

/** The directory of the page (web/ in the package: index.html, style.css, dist/ from npm run build). */
export const WEB_DIR = fileURLToPath(new URL('../../../web/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.map': 'application/json', '.json': 'application/json', '.safetensors': 'application/octet-stream', '.pt': 'application/octet-stream',
  '.png': 'image/png',
};

interface Manifest {
  name: string;
  checkpoint: { state: string; weights: string };
  data: { name: string; url: string }[];
}

/** The run's test-set files named in its config (file sources of .pt or .safetensors that exist). */
function testFiles(stateFile: string): string[] {
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { config?: { data?: { test?: Record<string, unknown> } } };
  const test = state.config?.data?.test ?? {};
  return Object.values(test)
    .map((s) => (typeof s === 'string' ? s : typeof (s as { file?: unknown } | null)?.file === 'string' ? (s as { file: string }).file : undefined))
    .filter((f): f is string => f !== undefined && /\.(pt|safetensors)$/.test(f) && existsSync(f));
}

/**
 * mpno serve: serves the page and (optionally) a run's latest checkpoint and its test data on
 * http://host:port/, with the headers a page needs for shared memory (Cross-Origin-Opener-Policy:
 * same-origin, Cross-Origin-Embedder-Policy: require-corp). Only the page's files and the run's
 * named files are served; nothing else on the disk is reachable. Resolves once listening.
 */
export async function serveCommand(o: ServeOptions): Promise<{ server: Server; url: string; manifest: Manifest | undefined }> {
  if (!existsSync(path.join(WEB_DIR, 'dist', 'page.js'))) {
    throw new Error(`serve: the page's bundle ${path.join(WEB_DIR, 'dist', 'page.js')} is missing; run 'npm run build' in the mpno package`);
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new RangeError(`serve: --port must be an integer from 0 to 65535, got ${o.port}`);
  const files = new Map<string, string>();
  for (const f of ['index.html', 'style.css']) files.set(`/${f}`, path.join(WEB_DIR, f));
  for (const f of readdirSync(path.join(WEB_DIR, 'dist'))) files.set(`/dist/${f}`, path.join(WEB_DIR, 'dist', f));
  let manifest: Manifest | undefined;
  if (o.run !== undefined) {
    if (!existsSync(o.run)) throw new Error(`serve: ${o.run} does not exist (give a run directory or an epoch-NNNN checkpoint directory)`);
    const ck = resolveCheckpoint(o.run);
    const weights = path.join(ck, 'model.safetensors');
    if (!existsSync(weights)) throw new Error(`serve: ${ck} has no model.safetensors`);
    files.set('/run/state.json', path.join(ck, 'state.json'));
    files.set('/run/model.safetensors', weights);
    const data = [...testFiles(path.join(ck, 'state.json')), ...(o.data ?? [])];
    for (const d of o.data ?? []) if (!existsSync(d) || !statSync(d).isFile()) throw new Error(`serve: --data ${d} is not a file`);
    manifest = {
      name: path.basename(path.resolve(o.run)),
      checkpoint: { state: 'run/state.json', weights: 'run/model.safetensors' },
      data: data.map((d, i) => {
        files.set(`/run/data/${i}${path.extname(d)}`, path.resolve(d));
        return { name: path.basename(d), url: `run/data/${i}${path.extname(d)}` };
      }),
    };
  } else if (o.data?.length) {
    throw new Error('serve: --data goes with a run (mpno serve <run> --data FILE)');
  }
  const isolation = o.isolation !== false;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const headers: Record<string, string> = { 'Cache-Control': 'no-store', 'Cross-Origin-Resource-Policy': 'same-origin', 'X-Content-Type-Options': 'nosniff' };
    if (isolation) Object.assign(headers, { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('only GET and HEAD\n');
      return;
    }
    const route = url.pathname === '/' ? '/index.html' : url.pathname;
    if (route === '/run/manifest.json' && manifest) {
      res.writeHead(200, { ...headers, 'Content-Type': 'application/json' }).end(JSON.stringify(manifest));
      return;
    }
    const file = files.get(route);
    if (!file || !existsSync(file)) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end(`not found: ${route}\n`);
      return;
    }
    const body = readFileSync(file);
    res.writeHead(200, { ...headers, 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'Content-Length': String(body.length) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`serve: cannot listen on ${o.host}:${o.port} (${e.code ?? e.message})`, { cause: e })));
    server.listen(o.port, o.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return { server, url: `http://${host}:${port}/`, manifest };
}
