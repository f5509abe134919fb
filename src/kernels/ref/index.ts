import type { Backend } from '../backend.js';
import { refFft } from './fft.js';
import { refComplexGemm, refGemm } from './gemm.js';
import { refPermute } from './permute.js';
import { refAdamStep } from './optim.js';
import { refGatherRows, refScatterAddRows, refSegmentSum } from './graph.js';
import {
  refAxpy, refBinary, refChannelAffine, refChannelSum, refClamp, refClampBackward, refConvert, refGelu, refGeluBackward, refReduce, refScale, refTanh,
  refTanhBackward,
  refTanhBackwardFromInput,
} from './elementwise.js';

export { refComplexGemm, refGemm } from './gemm.js';
export { refFft } from './fft.js';
export { refPermute } from './permute.js';
export { refAdamStep } from './optim.js';
export { refGatherRows, refScatterAddRows, refSegmentSum } from './graph.js';
export * from './elementwise.js';

/** The plain-TypeScript backend: float64 arithmetic, every dtype; the oracle of the kernel tests. */
export const refBackend: Backend = {
  name: 'reference',
  gemm: refGemm,
  complexGemm: refComplexGemm,
  binary: refBinary,
  scale: refScale,
  axpy: refAxpy,
  tanh: refTanh,
  tanhBackward: refTanhBackward,
  tanhBackwardFromInput: refTanhBackwardFromInput,
  gelu: refGelu,
  geluBackward: refGeluBackward,
  clamp: refClamp,
  clampBackward: refClampBackward,
  reduce: refReduce,
  channelAffine: refChannelAffine,
  channelSum: refChannelSum,
  convert: refConvert,
  permute: refPermute,
  fft: refFft,
  adamStep: refAdamStep,
  gatherRows: refGatherRows,
  scatterAddRows: refScatterAddRows,
  segmentSum: refSegmentSum,
};
