// Worker of `mpno generate`: generates samples [start, start + n) of one data set and posts them back.
import { parentPort, workerData } from 'node:worker_threads';
import { runGeneratorShard, type ShardJob } from './generate-shard.js';

const job = workerData as ShardJob;
let lastPercent = -1;
const result = runGeneratorShard(job, (i) => parentPort!.postMessage({ type: 'progress', index: i }), (done, total) => {
  // progress within a sample (navier-stokes time steps), at most once per percent
  const percent = Math.floor((100 * done) / total);
  if (percent === lastPercent) return;
  lastPercent = percent;
  parentPort!.postMessage({ type: 'step', done, total });
});
parentPort!.postMessage({ type: 'done', result }, [...result.x.map((a) => a.buffer), ...result.y.map((a) => a.buffer)] as ArrayBuffer[]);
