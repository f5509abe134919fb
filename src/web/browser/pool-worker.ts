// The kernel pool's worker script in a browser (started by platform-browser.ts; see src/kernels/worker.ts).
import type { PoolWorkerInit } from '../../core/platform.js';
import { runPoolWorker } from '../../kernels/worker.js';

const scope = globalThis as unknown as { onmessage: ((e: MessageEvent<PoolWorkerInit>) => void) | null };
scope.onmessage = (e) => {
  scope.onmessage = null;
  runPoolWorker(e.data);
};
