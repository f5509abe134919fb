// The kernel pool's worker script in Node (started by platform-node.ts; see worker.ts).
import { workerData } from 'node:worker_threads';
import type { PoolWorkerInit } from '../core/platform.js';
import { runPoolWorker } from './worker.js';

runPoolWorker(workerData as PoolWorkerInit);
