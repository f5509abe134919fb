// Worker of `mpno generate`: generates samples [start, start + n) of one data set and posts them back.
import { parentPort, workerData } from 'node:worker_threads';
import { runGeneratorShard, type ShardJob } from './generate-shard.js';

const job = workerData as ShardJob;
const result = runGeneratorShard(job, (i) => parentPort!.postMessage({ type: 'progress', index: i }));
parentPort!.postMessage({ type: 'done', result }, [...result.x.map((a) => a.buffer), ...result.y.map((a) => a.buffer)] as ArrayBuffer[]);
