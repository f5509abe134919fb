/**
 * Differentiable ops on Variables. Each computes its forward through the backend, saves what its
 * backward needs (views counted as activations) and returns a Variable recorded in the graph.
 */
import type { DType } from '../core/dtype.js';
import { ComplexTensor, Tensor, fmtShape, shapeEq, shapeSize } from '../core/tensor.js';
import type { GeluApproximate } from '../kernels/backend.js';
import { backend } from '../kernels/cpu.js';
import { type FftNorm, type FftOptions, irfftnModes, irfftnModesAdjoint, rfftnModes, rfftnModesAdjoint } from '../fft/index.js';
import { type ShtPlan, ishtModes as ishtModesT, ishtModesAdjoint, shtModes as shtModesT, shtModesAdjoint } from '../fft/sht.js';
import { Variable, isGradEnabled, record, save } from './variable.js';

export { record as recordOp };

function be() {
  return backend();
}

function like(t: Tensor, dtype: DType = t.dtype): Tensor {
  return Tensor.empty(t.shape, dtype, 'activation');
}

function gradLike(t: Tensor): Tensor {
  return Tensor.empty(t.shape, t.dtype, 'gradient');
}

/**
 * The incoming gradient passed on unchanged, without a copy: a new handle on g's storage (the engine
 * releases its own handle of g after the backward). At most one input of an op may get it; others
 * get copies, so that no two pending gradients share storage (they are accumulated in place).
 */
function passOn(g: Tensor, shape: readonly number[] = g.shape): Tensor {
  return g.reshape(shape);
}

function checkSame(op: string, a: Variable, b: Variable): void {
  if (!shapeEq(a.shape, b.shape)) throw new RangeError(`${op}: shapes differ: ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
}

/** A Variable without gradient around a tensor (owned by the current tidy scope). */
export function constant(t: Tensor): Variable {
  return new Variable(t);
}

/** x converted to another dtype (round to nearest even); the gradient is converted back. */
export function cast(x: Variable, dtype: DType): Variable {
  if (x.dtype === dtype) return x;
  const out = Tensor.empty(x.shape, dtype, 'activation');
  be().convert(x.value, out);
  return record('cast', [x], out, (g) => {
    const gx = Tensor.empty(g.shape, x.dtype, 'gradient');
    be().convert(g, gx);
    return [gx];
  });
}

export function add(a: Variable, b: Variable): Variable {
  checkSame('add', a, b);
  const out = like(a.value);
  be().binary('add', a.value, b.value, out);
  return record('add', [a, b], out, (g, needs) => [needs[0] ? passOn(g) : null, needs[1] ? (needs[0] ? g.clone('gradient') : passOn(g)) : null]);
}

export function sub(a: Variable, b: Variable): Variable {
  checkSame('sub', a, b);
  const out = like(a.value);
  be().binary('sub', a.value, b.value, out);
  return record('sub', [a, b], out, (g, needs) => {
    let gb: Tensor | null = null;
    if (needs[1]) {
      gb = gradLike(g);
      be().scale(g, -1, gb);
    }
    return [needs[0] ? passOn(g) : null, gb];
  });
}

export function mul(a: Variable, b: Variable): Variable {
  checkSame('mul', a, b);
  const out = like(a.value);
  be().binary('mul', a.value, b.value, out);
  const sa = save(a.value);
  const sb = save(b.value);
  return record('mul', [a, b], out, (g, needs) => {
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (needs[0]) be().binary('mul', g, sb, (ga = gradLike(g)));
    if (needs[1]) be().binary('mul', g, sa, (gb = gradLike(g)));
    return [ga, gb];
  }, [sa, sb]);
}

export function scale(x: Variable, alpha: number): Variable {
  const out = like(x.value);
  be().scale(x.value, alpha, out);
  return record('scale', [x], out, (g) => {
    const gx = gradLike(g);
    be().scale(g, alpha, gx);
    return [gx];
  });
}

/** gelu(x); with gradients on, gelu′(x) is written in the same pass and the backward is g·gelu′(x). */
export function gelu(x: Variable, approximate: GeluApproximate = 'none'): Variable {
  const out = like(x.value);
  if (!(isGradEnabled() && x.requiresGrad)) {
    be().gelu(x.value, out, approximate);
    return new Variable(out);
  }
  const d = like(x.value);
  be().gelu(x.value, out, approximate, d);
  return record('gelu', [x], out, (g) => {
    const gx = gradLike(g);
    be().binary('mul', g, d, gx);
    return [gx];
  }, [d]);
}

/**
 * tanh(x). With `recompute`, the backward recomputes 1 − tanh²(x) from x instead of saving the output:
 * no tensor of its own is kept when x is saved anyway (the stabiliser's input, which the layer's skip
 * saves), at the cost of one more transcendental in the backward.
 */
export function tanh(x: Variable, o: { recompute?: boolean } = {}): Variable {
  const out = like(x.value);
  be().tanh(x.value, out);
  if (o.recompute) {
    const sx = save(x.value);
    return record('tanh', [x], out, (g, _needs, acc) => {
      // x's other users (the skip) have usually given their gradient already: add into it
      const into = acc[0];
      if (into) {
        be().tanhBackwardFromInput(sx, g, into, true);
        return [into];
      }
      const gx = gradLike(g);
      be().tanhBackwardFromInput(sx, g, gx);
      return [gx];
    }, [sx]);
  }
  const sy = save(out);
  return record('tanh', [x], out, (g) => {
    const gx = gradLike(g);
    be().tanhBackward(sy, g, gx);
    return [gx];
  }, [sy]);
}

export function clamp(x: Variable, min: number, max: number): Variable {
  const out = like(x.value);
  be().clamp(x.value, min, max, out);
  const sx = save(x.value);
  return record('clamp', [x], out, (g) => {
    const gx = gradLike(g);
    be().clampBackward(sx, min, max, g, gx);
    return [gx];
  }, [sx]);
}

/** A view with another shape (shares memory; the gradient is reshaped back). */
export function reshape(x: Variable, shape: readonly number[]): Variable {
  const out = x.value.reshape(shape);
  const inShape = x.shape;
  return record('reshape', [x], out, (g) => [passOn(g, inShape)]);
}

function batchView(t: Tensor, op: string): { B: number; C: number; S: number } {
  if (t.ndim < 2) throw new RangeError(`${op}: expected [batch, channels, ...], got ${fmtShape(t.shape)}`);
  return { B: t.shape[0]!, C: t.shape[1]!, S: shapeSize(t.shape.slice(2)) };
}

/** The dtype of a parameter's gradient: float64 for float64 parameters, float32 otherwise. */
function paramGradDType(p: { dtype: DType }): DType {
  return p.dtype === 'float64' ? 'float64' : 'float32';
}

/**
 * Checks a channel mixing's operands (x [B, Ci, …], W [Co, Ci], bias [Co]) and returns the sizes; the
 * messages name the op and, for ops with several layers, which weight and bias (`layer`: 'first ').
 */
function mixingDims(op: string, x: Variable, W: Variable, bias: Variable | undefined, layer = ''): { B: number; Ci: number; Co: number; S: number } {
  const { B, C: Ci, S } = batchView(x.value, op);
  if (W.value.ndim !== 2 || W.shape[1] !== Ci) throw new RangeError(`${op}: ${layer}weight ${fmtShape(W.shape)} does not take ${Ci} input channels (x ${fmtShape(x.shape)})`);
  const Co = W.shape[0]!;
  if (bias && (bias.value.ndim !== 1 || bias.shape[0] !== Co)) throw new RangeError(`${op}: ${layer}bias ${fmtShape(bias.shape)} must be [${Co}]`);
  return { B, Ci, Co, S };
}

/** dbias[c] = Σ_{b,s} g[b, c, s] (· y[b, c, s] where y is given: a per-channel scale's gradient). */
function channelBiasGrad(g: Tensor, biasShape: readonly number[], dtype: DType, y: Tensor | null = null): Tensor {
  const db = Tensor.empty(biasShape, dtype, 'gradient');
  be().channelSum(g, y, db);
  return db;
}

/**
 * The three products of a channel mixing's backward from the output gradient gz3 ([B, Co, S]):
 * gx = Wᵀ·gz (shaped xShape), gW = Σ_b gz·xᵀ, gb = Σ gz, each where needs[0], [1], [2] ask for it.
 */
function mixingGrads(gz3: Tensor, x3: Tensor, xShape: readonly number[], W: Tensor, bias: Variable | undefined, needs: readonly boolean[]): (Tensor | null)[] {
  const grads: (Tensor | null)[] = [null, null, null];
  if (needs[0]) {
    const gx = Tensor.empty(x3.shape, gz3.dtype, 'gradient');
    be().gemm(W, gz3, gx, { transA: true });
    grads[0] = gx.reshapeOwned(xShape);
  }
  if (needs[1]) {
    const gW = Tensor.zeros(W.shape, paramGradDType(W), 'gradient');
    be().gemm(gz3, x3, gW, { transB: true, sumBatch: true, accumulate: true });
    grads[1] = gW;
  }
  if (needs[2] && bias) grads[2] = channelBiasGrad(gz3, bias.shape, paramGradDType(bias));
  return grads;
}

/**
 * Channel mixing (a 1×1 convolution): y[b, o, …] = Σ_i W[o, i]·x[b, i, …] + bias[o].
 * x: [B, Ci, …], W: [Co, Ci], bias: [Co].
 */
export function linear(x: Variable, W: Variable, bias?: Variable): Variable {
  const op = 'linear';
  const { B, Ci, Co, S } = mixingDims(op, x, W, bias);
  const outShape = [B, Co, ...x.shape.slice(2)];
  const out = Tensor.empty(outShape, x.dtype, 'activation');
  const x3 = x.value.reshape([B, Ci, S]);
  const o3 = out.reshape([B, Co, S]);
  try {
    be().gemm(W.value, x3, o3, bias ? { bias: bias.value } : {});
  } finally {
    o3.release();
  }
  const sW = save(W.value);
  return record(op, [x, W, bias ?? null], out, (g, needs) => {
    const g3 = g.reshape([B, Co, S]);
    try {
      return mixingGrads(g3, x3, x.shape, sW, bias, needs);
    } finally {
      g3.release();
    }
  }, [x3, sW]);
}

/**
 * gelu(linear(x, W, bias)) in one GEMM whose epilogue adds the bias and applies gelu, so the activation is
 * written once instead of written, read and written again. With gradients on, gelu′ at the pre-activation
 * z = linear(x, W, bias) is also written; the backward is gelu′(z)·g followed by linear's.
 * In float32 the result equals ops.gelu(ops.linear(x, W, bias)) bit for bit.
 */
export function linearGelu(x: Variable, W: Variable, bias?: Variable, approximate: GeluApproximate = 'none'): Variable {
  const op = 'linearGelu';
  const { B, Ci, Co, S } = mixingDims(op, x, W, bias);
  const outShape = [B, Co, ...x.shape.slice(2)];
  const out = Tensor.empty(outShape, x.dtype, 'activation');
  const needsGrad = isGradEnabled() && (x.requiresGrad || W.requiresGrad || (bias?.requiresGrad ?? false));
  const d = needsGrad ? Tensor.empty(outShape, x.dtype, 'activation') : undefined;
  const x3 = x.value.reshape([B, Ci, S]);
  const views = [out.reshape([B, Co, S]), d?.reshape([B, Co, S])];
  try {
    be().gemm(W.value, x3, views[0]!, { gelu: approximate, ...(bias ? { bias: bias.value } : {}), ...(views[1] ? { activationGrad: views[1] } : {}) });
  } finally {
    for (const v of views) v?.release();
  }
  if (!d) {
    x3.release();
    return new Variable(out);
  }
  const sW = save(W.value);
  return record(op, [x, W, bias ?? null], out, (g, needs) => {
    // gz = gelu′(z)·g, then the three products of a channel mixing's backward
    const gz = gradLike(g);
    be().binary('mul', g, d, gz);
    d.release();
    const gz3 = gz.reshape([B, Co, S]);
    try {
      return mixingGrads(gz3, x3, x.shape, sW, bias, needs);
    } finally {
      gz3.release();
      gz.release();
    }
  }, [x3, sW, d]);
}

/**
 * act(W·x + bias + r): a channel mixing that joins another branch r (an FNO layer's skip joining its
 * spectral convolution), with an optional gelu, as one GEMM whose epilogue adds r (and applies gelu,
 * writing gelu′ for the backward). r must have the output's shape and x's dtype. The backward passes the
 * pre-activation gradient to r without a copy. In float32 the result and the gradients equal those of
 * gelu(add(r, linear(x, W, bias))) bit for bit.
 */
export function linearAdd(x: Variable, W: Variable, bias: Variable | undefined, r: Variable, approximate: GeluApproximate | null = null): Variable {
  const op = 'linearAdd';
  const { B, Ci, Co, S } = mixingDims(op, x, W, bias);
  const outShape = [B, Co, ...x.shape.slice(2)];
  if (!shapeEq(r.shape, outShape) || r.dtype !== x.dtype) throw new RangeError(`${op}: the added branch ${fmtShape(r.shape)} ${r.dtype} must be ${fmtShape(outShape)} ${x.dtype}`);
  const needsGrad = isGradEnabled() && [x, W, bias, r].some((v) => v?.requiresGrad ?? false);
  const out = Tensor.empty(outShape, x.dtype, 'activation');
  const d = needsGrad && approximate !== null ? Tensor.empty(outShape, x.dtype, 'activation') : undefined;
  const x3 = x.value.reshape([B, Ci, S]);
  const views = [out.reshape([B, Co, S]), r.value.reshape([B, Co, S]), d?.reshape([B, Co, S])];
  try {
    be().gemm(W.value, x3, views[0]!, {
      residual: views[1]!, ...(bias ? { bias: bias.value } : {}),
      ...(approximate !== null ? { gelu: approximate } : {}), ...(views[2] ? { activationGrad: views[2] } : {}),
    });
  } finally {
    for (const v of views) v?.release();
  }
  if (!needsGrad) {
    x3.release();
    return new Variable(out);
  }
  const sW = save(W.value);
  return record(op, [x, W, bias ?? null, r], out, (g, needs) => {
    // the pre-activation gradient: g·gelu′ (owned here), or g itself
    let gz: Tensor;
    if (d) {
      gz = gradLike(g);
      be().binary('mul', g, d, gz);
      d.release();
    } else {
      gz = passOn(g);
    }
    const gz3 = gz.reshape([B, Co, S]);
    let grads: (Tensor | null)[];
    try {
      grads = mixingGrads(gz3, x3, x.shape, sW, bias, needs);
    } finally {
      gz3.release();
    }
    // the added branch takes the pre-activation gradient itself
    if (needs[3]) grads.push(gz);
    else {
      grads.push(null);
      gz.release();
    }
    return grads;
  }, d ? [x3, sW, d] : [x3, sW]);
}

/**
 * A two-layer channel MLP, W2·gelu(W1·x + b1) + b2 (neuralop's ChannelMLP with n_layers 2), as one op:
 * the first GEMM writes gelu and gelu′ of its pre-activation in its epilogue, and the backward's GEMM
 * for the hidden gradient multiplies by gelu′ in its epilogue (dh = (W2ᵀ·g)·gelu′), so that gradient
 * is written once, with no second tensor of the hidden width alive. In float32 the result and every
 * gradient equal those of linear(linearGelu(x, W1, b1), W2, b2) bit for bit.
 */
export function linearGeluLinear(
  x: Variable, W1: Variable, b1: Variable | undefined, W2: Variable, b2: Variable | undefined, approximate: GeluApproximate = 'none',
): Variable {
  const op = 'linearGeluLinear';
  const { B, Ci, Co: H, S } = mixingDims(op, x, W1, b1, 'first ');
  if (W2.value.ndim !== 2 || W2.shape[1] !== H) throw new RangeError(`${op}: second weight ${fmtShape(W2.shape)} does not take the ${H} hidden channels of the first ${fmtShape(W1.shape)}`);
  const Co = W2.shape[0]!;
  if (b2 && (b2.value.ndim !== 1 || b2.shape[0] !== Co)) throw new RangeError(`${op}: second bias ${fmtShape(b2.shape)} must be [${Co}]`);
  const inputs = [x, W1, b1 ?? null, W2, b2 ?? null];
  const needsGrad = isGradEnabled() && inputs.some((v) => v?.requiresGrad ?? false);
  const hidden = Tensor.empty([B, H, S], x.dtype, 'activation');
  const d = needsGrad ? Tensor.empty([B, H, S], x.dtype, 'activation') : undefined;
  const out = Tensor.empty([B, Co, ...x.shape.slice(2)], x.dtype, 'activation');
  const x3 = x.value.reshape([B, Ci, S]);
  const o3 = out.reshape([B, Co, S]);
  try {
    be().gemm(W1.value, x3, hidden, { gelu: approximate, ...(b1 ? { bias: b1.value } : {}), ...(d ? { activationGrad: d } : {}) });
    be().gemm(W2.value, hidden, o3, b2 ? { bias: b2.value } : {});
  } finally {
    o3.release();
  }
  if (!d) {
    x3.release();
    hidden.release();
    return new Variable(out);
  }
  const sW1 = save(W1.value);
  const sW2 = save(W2.value);
  return record(op, inputs, out, (g, needs) => {
    const g3 = g.reshape([B, Co, S]);
    const grads: (Tensor | null)[] = [null, null, null, null, null];
    let gh: Tensor | undefined;
    try {
      if (needs[3]) {
        const gW2 = Tensor.zeros([Co, H], paramGradDType(W2), 'gradient');
        be().gemm(g3, hidden, gW2, { transB: true, sumBatch: true, accumulate: true });
        grads[3] = gW2;
      }
      if (needs[4] && b2) grads[4] = channelBiasGrad(g, b2.shape, paramGradDType(b2));
      // the hidden activation and then gelu′ are freed as soon as they are used (the hidden-width
      // gradient would otherwise live beside both)
      hidden.release();
      if (needs[0] || needs[1] || needs[2]) {
        gh = Tensor.empty([B, H, S], g.dtype, 'gradient');
        if (g.dtype === d.dtype) {
          be().gemm(sW2, g3, gh, { transA: true, multiply: d });
        } else {
          be().gemm(sW2, g3, gh, { transA: true });
          be().binary('mul', gh, d, gh);
        }
        d.release();
        const first = mixingGrads(gh, x3, x.shape, sW1, b1, needs);
        for (let i = 0; i < 3; i++) grads[i] = first[i]!;
      }
      return grads;
    } finally {
      g3.release();
      gh?.release();
    }
  }, [x3, sW1, sW2, hidden, d]);
}

/** y[b, c, …] = x[b, c, …] + bias[c]. */
export function addBias(x: Variable, bias: Variable): Variable {
  const { C } = batchView(x.value, 'addBias');
  if (bias.size !== C) throw new RangeError(`addBias: bias ${fmtShape(bias.shape)} must have ${C} elements (x ${fmtShape(x.shape)})`);
  const out = Tensor.empty(x.shape, x.dtype, 'activation');
  be().channelAffine(x.value, null, bias.value, out);
  return record('addBias', [x, bias], out, (g, needs) => [
    needs[0] ? passOn(g) : null,
    needs[1] ? channelBiasGrad(g, bias.shape, paramGradDType(bias)) : null,
  ]);
}

/**
 * y[b, c, …] = w[c]·x[b, c, …] (neuralop's soft-gating skip without bias); dw[c] = Σ_{b,s} dy·x.
 */
export function channelScale(x: Variable, w: Variable): Variable {
  const op = 'channelScale';
  const { C } = batchView(x.value, op);
  if (w.size !== C) throw new RangeError(`${op}: weight ${fmtShape(w.shape)} must have ${C} elements (x ${fmtShape(x.shape)})`);
  const out = Tensor.empty(x.shape, x.dtype, 'activation');
  const sw = save(w.value);
  be().channelAffine(x.value, sw, null, out);
  const sx = save(x.value);
  return record(op, [x, w], out, (g, needs) => {
    let gx: Tensor | null = null;
    if (needs[0]) be().channelAffine(g, sw, null, (gx = Tensor.empty(x.shape, g.dtype, 'gradient')));
    const gW = needs[1] ? channelBiasGrad(g, w.shape, paramGradDType(w), sx) : null;
    return [gx, gW];
  }, [sx, sw]);
}

/** The dtypes of a spectral layer's stages (precision/policy.ts's stageDTypes makes them from a precision mode). */
export interface SpectralStages {
  /** dtype the forward transform reads its input in (the input is rounded to it first when it differs). */
  transformIn: DType;
  /** dtype of the spectrum, the contraction and the inverse transform's input. */
  spectrum: DType;
  /** dtype inside a forward transform of several stages (the SHT between its FFT and its Legendre GEMM). */
  forwardWork?: DType;
  /** Emulated half arithmetic inside the forward / inverse transform (every stage rounded). */
  forwardEmulate?: FftOptions['emulate'] | undefined;
  inverseEmulate?: FftOptions['emulate'] | undefined;
}

function fullStages(x: Variable): SpectralStages {
  const dt = x.dtype === 'float64' ? 'float64' : 'float32';
  return { transformIn: x.dtype, spectrum: dt };
}

function emulateOpt(e: FftOptions['emulate'] | undefined): Pick<FftOptions, 'emulate'> {
  return e ? { emulate: e } : {};
}

/**
 * Truncated forward Fourier transform of a batch of fields: x [B, C, n1…nd] → the kept modes as a
 * packed complex tensor [2, k1…kd, B, C] (mode-major, centred order on the first d−1 axes as
 * rfftnModes returns them; index 0 the real part) in dtype `spectrum`. The input is read rounded to
 * `transformIn` when that differs from its dtype. Backward: the adjoint transform (rfftnModesAdjoint).
 */
export function rfftModes(x: Variable, modes: readonly number[], o: { norm: FftNorm; spectrum: DType; transformIn?: DType; emulate?: FftOptions['emulate'] | undefined }): Variable {
  const op = 'rfftModes';
  const d = modes.length;
  batchView(x.value, op);
  if (x.value.ndim !== d + 2) throw new RangeError(`${op}: x ${fmtShape(x.shape)} is not [batch, channels] + ${d} spatial axes`);
  const sizes = x.shape.slice(2);
  const emu = emulateOpt(o.emulate);
  return forwardTransform(op, x, o.transformIn ?? x.dtype,
    (xin) => rfftnModes(xin, modes, { norm: o.norm, dtype: o.spectrum, ...emu }),
    (G) => rfftnModesAdjoint(G, sizes, { norm: o.norm, dtype: x.dtype, ...emu }));
}

/**
 * A forward transform as an op: x read rounded to `tin` (a workspace copy when that is not x's dtype),
 * transformed by `run` into a spectrum that is returned packed; the backward applies `adjoint` to the
 * packed gradient.
 */
function forwardTransform(op: string, x: Variable, tin: DType, run: (xin: Tensor) => ComplexTensor, adjoint: (G: ComplexTensor) => Tensor): Variable {
  const xin = tin !== x.dtype ? Tensor.empty(x.shape, tin, 'workspace') : undefined;
  let X: ComplexTensor;
  try {
    if (xin) be().convert(x.value, xin);
    X = run(xin ?? x.value);
  } finally {
    xin?.release();
  }
  const out = X.packed();
  X.release();
  return record(op, [x], out, (g) => {
    const G = ComplexTensor.fromPacked(g);
    try {
      return [adjoint(G)];
    } finally {
      G.release();
    }
  });
}

/**
 * An inverse transform as an op: the packed spectrum Y → fields by `run`, plus an optional channel
 * bias added in place; the backward gives `adjoint(g)` packed (where needed) and the bias gradient.
 */
function inverseTransform(op: string, Y: Variable, bias: Variable | undefined, run: (Yc: ComplexTensor) => Tensor, adjoint: (g: Tensor) => ComplexTensor): Variable {
  const Yc = ComplexTensor.fromPacked(Y.value);
  let out: Tensor;
  try {
    out = run(Yc);
  } finally {
    Yc.release();
  }
  if (bias) be().channelAffine(out, null, bias.value, out);
  return record(op, [Y, bias ?? null], out, (g, needs) => {
    let gY: Tensor | null = null;
    if (needs[0]) {
      const G = adjoint(g);
      gY = G.packed('gradient');
      G.release();
    }
    const gb = needs[1] && bias ? channelBiasGrad(g, bias.shape, paramGradDType(bias)) : null;
    return [gY, gb];
  });
}

/**
 * Truncated inverse transform: a packed spectrum [2, k1…kd, B, C] (as rfftModes makes it) → the
 * fields [B, C, n1…nd] in `dtype`, the other modes zero, plus an optional channel bias [C] (or
 * [C, 1…]) added in the same op. Backward: the adjoint (irfftnModesAdjoint), in the spectrum's dtype.
 */
export function irfftModes(Y: Variable, sizes: readonly number[], o: { norm: FftNorm; dtype: DType; emulate?: FftOptions['emulate'] | undefined }, bias?: Variable): Variable {
  const op = 'irfftModes';
  const d = sizes.length;
  if (Y.value.ndim !== d + 3 || Y.shape[0] !== 2) throw new RangeError(`${op}: spectrum ${fmtShape(Y.shape)} is not packed [2, ${d} mode axes, batch, channels]`);
  const modes = Y.shape.slice(1, d + 1);
  const C = Y.shape[d + 2]!;
  if (bias && bias.size !== C) throw new RangeError(`${op}: bias ${fmtShape(bias.shape)} does not have ${C} channels`);
  const emu = emulateOpt(o.emulate);
  return inverseTransform(op, Y, bias,
    (Yc) => irfftnModes(Yc, sizes, { norm: o.norm, dtype: o.dtype, ...emu }),
    (g) => irfftnModesAdjoint(g, modes, { norm: o.norm, dtype: Y.dtype, ...emu }));
}

/**
 * x with its axes permuted: output axis d is input axis perm[d] (a copy in x's dtype); the gradient
 * is permuted back.
 */
export function permute(x: Variable, perm: readonly number[]): Variable {
  const op = 'permute';
  const n = x.value.ndim;
  if (perm.length !== n || [...perm].sort((a, b) => a - b).some((v, i) => v !== i)) {
    throw new RangeError(`${op}: [${perm.join(', ')}] is not a permutation of the ${n} axes of ${fmtShape(x.shape)}`);
  }
  const out = Tensor.empty(perm.map((a) => x.shape[a]!), x.dtype, 'activation');
  be().permute(x.value, perm, out);
  const inv = new Array<number>(n);
  perm.forEach((a, d) => (inv[a] = d));
  return record(op, [x], out, (g) => {
    const gx = Tensor.empty(x.shape, g.dtype, 'gradient');
    be().permute(g, inv, gx);
    return [gx];
  });
}

/**
 * Forward spherical harmonic transform of a batch of fields: x [B, C, nlat, nlon] → the
 * coefficients packed [2, mmax, lmax, B·C] (order-major, index 0 the real part) in dtype `spectrum`;
 * `work` is the dtype between the longitude FFT and the Legendre GEMM, `transformIn` the dtype the
 * input is read rounded to (as rfftModes). Backward: the adjoint transform.
 */
export function shtModes(x: Variable, plan: ShtPlan, o: { spectrum: DType; work?: DType; transformIn?: DType; emulate?: FftOptions['emulate'] | undefined }): Variable {
  const op = 'shtModes';
  const { B, C } = batchView(x.value, op);
  if (x.value.ndim !== 4 || x.shape[2] !== plan.nlat || x.shape[3] !== plan.nlon) {
    throw new RangeError(`${op}: x ${fmtShape(x.shape)} is not [batch, channels, ${plan.nlat}, ${plan.nlon}] (the ${plan.description} grid)`);
  }
  const emu = emulateOpt(o.emulate);
  return forwardTransform(op, x, o.transformIn ?? x.dtype,
    (xin) => shtModesT(xin, plan, { dtype: o.spectrum, ...(o.work ? { work: o.work } : {}), ...emu }),
    (G) => shtModesAdjoint(G, plan, { dtype: x.dtype, ...emu }).reshapeOwned([B, C, plan.nlat, plan.nlon]));
}

/**
 * Inverse spherical harmonic transform: coefficients packed [2, mmax, lmax, B·C] (as shtModes makes
 * them) → fields [B, C, nlat, nlon] in `dtype` (`batch` = [B, C]), plus an optional channel bias [C]
 * (or [C, 1, 1]) added in the same op. The Legendre synthesis writes in the coefficients' dtype, the
 * longitude FFT reads it. Backward: the adjoint, in the coefficients' dtype.
 */
export function ishtModes(Y: Variable, plan: ShtPlan, batch: readonly [number, number], o: { dtype: DType; emulate?: FftOptions['emulate'] | undefined }, bias?: Variable): Variable {
  const op = 'ishtModes';
  const [B, C] = batch;
  if (Y.value.ndim !== 4 || Y.shape[0] !== 2 || Y.shape[1] !== plan.mmax || Y.shape[2] !== plan.lmax || Y.shape[3] !== B * C) {
    throw new RangeError(`${op}: coefficients ${fmtShape(Y.shape)} are not packed [2, ${plan.mmax}, ${plan.lmax}, ${B * C}] (mmax, lmax, batch ${B} × channels ${C})`);
  }
  if (bias && bias.size !== C) throw new RangeError(`${op}: bias ${fmtShape(bias.shape)} does not have ${C} channels`);
  const emu = emulateOpt(o.emulate);
  return inverseTransform(op, Y, bias,
    (Yc) => ishtModesT(Yc, plan, { dtype: o.dtype, work: Y.dtype, ...emu }).reshapeOwned([B, C, plan.nlat, plan.nlon]),
    (g) => ishtModesAdjoint(g, plan, { dtype: Y.dtype, work: Y.dtype, ...emu }));
}

/** out[r, :] = s[r]·x[r, :] over rows of x [R, C] (s: R values), as one channel-affine pass over [1, R, C]. */
function scaleRows(x: Tensor, s: Tensor, out: Tensor): void {
  const [R, C] = x.shape as [number, number];
  const x3 = x.reshape([1, R, C]);
  const o3 = out === x ? x3 : out.reshape([1, R, C]);
  try {
    be().channelAffine(x3, s, null, o3);
  } finally {
    x3.release();
    if (o3 !== x3) o3.release();
  }
}

/**
 * Rows of x gathered by index: y[e, :] = x[index[e], :] (x [N, C] → y [E, C]; a graph's edge values
 * from its nodes). Backward: the gradient's rows added back into their nodes (scatter-add, float32
 * or float64 gradients).
 */
export function gatherRows(x: Variable, index: Int32Array): Variable {
  const op = 'gatherRows';
  if (x.value.ndim !== 2) throw new RangeError(`${op}: x must be 2-D [rows, channels], got ${fmtShape(x.shape)}`);
  const C = x.shape[1]!;
  const out = Tensor.empty([index.length, C], x.dtype, 'activation');
  try {
    be().gatherRows(x.value, index, out);
  } catch (e) {
    out.release();
    throw e;
  }
  const N = x.shape[0]!;
  return record(op, [x], out, (g) => {
    const gx = Tensor.zeros([N, C], g.dtype, 'gradient');
    be().scatterAddRows(g, index, gx);
    return [gx];
  });
}

/**
 * Sums (or means) of CSR segments of rows: y[q, :] = Σ_{e = rowPtr[q]}^{rowPtr[q+1]−1} x[e, :] (÷ the
 * segment's length for 'mean'; an empty segment gives 0). x [E, C] → y [M, C] with M = rowPtr.length − 1.
 * Backward: each edge receives its segment's gradient (÷ the length for 'mean').
 */
export function segmentReduce(x: Variable, rowPtr: Int32Array, reduce: 'sum' | 'mean' = 'sum'): Variable {
  const op = 'segmentReduce';
  if (reduce !== 'sum' && reduce !== 'mean') throw new RangeError(`${op}: reduce must be 'sum' or 'mean', got ${JSON.stringify(reduce)}`);
  if (x.value.ndim !== 2) throw new RangeError(`${op}: x must be 2-D [edges, channels], got ${fmtShape(x.shape)}`);
  const [E, C] = x.shape as [number, number];
  const M = rowPtr.length - 1;
  const out = Tensor.empty([Math.max(M, 0), C], x.dtype, 'activation');
  try {
    be().segmentSum(x.value, rowPtr, out, reduce === 'mean');
  } catch (e) {
    out.release();
    throw e;
  }
  return record(op, [x], out, (g) => {
    // the row of every edge, then its share of the row's gradient
    const rowOf = new Int32Array(E);
    for (let q = 0; q < M; q++) rowOf.fill(q, rowPtr[q]!, rowPtr[q + 1]!);
    const gx = Tensor.empty([E, C], g.dtype, 'gradient');
    be().gatherRows(g, rowOf, gx);
    if (reduce === 'mean') {
      // each edge's row scaled by 1/|segment| (one wasm pass, also for 16-bit gradients)
      const inv = new Float64Array(E);
      for (let e = 0; e < E; e++) inv[e] = 1 / (rowPtr[rowOf[e]! + 1]! - rowPtr[rowOf[e]!]!);
      const s = Tensor.fromArray(inv, [E], g.dtype === 'float64' ? 'float64' : 'float32', 'gradient');
      try {
        scaleRows(gx, s, gx);
      } finally {
        s.release();
      }
    }
    return [gx];
  });
}

/** Checks a row-layout mixing's operands: x [R, Ci] (or [1, Ci, R] when `channelFirst`), W [Co, Ci], bias [Co]. */
function rowMixingDims(op: string, x: Variable, W: Variable, bias: Variable | undefined, channelFirst: boolean): { R: number; Ci: number; Co: number } {
  const ok = channelFirst ? x.value.ndim === 3 && x.shape[0] === 1 : x.value.ndim === 2;
  if (!ok) throw new RangeError(`${op}: x must be ${channelFirst ? '[1, channels, rows]' : '[rows, channels]'}, got ${fmtShape(x.shape)}`);
  const Ci = channelFirst ? x.shape[1]! : x.shape[1]!;
  const R = channelFirst ? x.shape[2]! : x.shape[0]!;
  if (W.value.ndim !== 2 || W.shape[1] !== Ci) throw new RangeError(`${op}: weight ${fmtShape(W.shape)} does not take ${Ci} input channels (x ${fmtShape(x.shape)})`);
  const Co = W.shape[0]!;
  if (bias && (bias.value.ndim !== 1 || bias.shape[0] !== Co)) throw new RangeError(`${op}: bias ${fmtShape(bias.shape)} must be [${Co}]`);
  return { R, Ci, Co };
}

/**
 * A linear layer on rows (torch.nn.Linear): y[r, :] = W·x[r, :] + bias, x [R, Ci] → y [R, Co] in x's
 * dtype. Backward: gx = g·W, gW = gᵀ·x, gb = Σ_r g (float32 or float64 parameter gradients).
 */
export function rowLinear(x: Variable, W: Variable, bias?: Variable): Variable {
  const op = 'rowLinear';
  const { R, Ci, Co } = rowMixingDims(op, x, W, bias, false);
  const out = Tensor.empty([R, Co], x.dtype, 'activation');
  be().gemm(x.value, W.value, out, { transB: true });
  if (bias) be().channelAffine(out, null, bias.value, out);
  const sx = save(x.value);
  const sW = save(W.value);
  return record(op, [x, W, bias ?? null], out, (g, needs) => {
    const grads: (Tensor | null)[] = [null, null, null];
    if (needs[0]) be().gemm(g, sW, (grads[0] = Tensor.empty([R, Ci], g.dtype, 'gradient')));
    if (needs[1]) be().gemm(g, sx, (grads[1] = Tensor.zeros([Co, Ci], paramGradDType(W), 'gradient')), { transA: true, accumulate: true });
    if (needs[2] && bias) grads[2] = channelBiasGrad(g, bias.shape, paramGradDType(bias));
    return grads;
  }, [sx, sW]);
}

/**
 * A linear layer from rows to channel-first: x [R, Ci] → y [1, Co, R] = W·xᵀ + bias (gelu(…) with
 * `gelu`, applied with the bias in the GEMM's epilogue), so that the next layers are the channel-first
 * mixings (linear, linearGelu). Backward: gz = g (·gelu′), gx = gzᵀ·W, gW = gz·x, gb = Σ gz.
 */
export function linearFromRows(x: Variable, W: Variable, bias?: Variable, gelu = false): Variable {
  const op = 'linearFromRows';
  const { R, Ci, Co } = rowMixingDims(op, x, W, bias, false);
  const out = Tensor.empty([1, Co, R], x.dtype, 'activation');
  const needsGrad = isGradEnabled() && (x.requiresGrad || W.requiresGrad || (bias?.requiresGrad ?? false));
  const d = gelu && needsGrad ? Tensor.empty([1, Co, R], x.dtype, 'activation') : undefined;
  const o2 = out.reshape([Co, R]);
  const d2 = d?.reshape([Co, R]);
  try {
    be().gemm(W.value, x.value, o2, { transB: true, ...(bias ? { bias: bias.value } : {}), ...(gelu ? { gelu: 'none' as const } : {}), ...(d2 ? { activationGrad: d2 } : {}) });
  } finally {
    o2.release();
    d2?.release();
  }
  const sx = save(x.value);
  const sW = save(W.value);
  return record(op, [x, W, bias ?? null], out, (g, needs) => {
    let gz = g;
    if (d) {
      gz = gradLike(g);
      be().binary('mul', g, d, gz);
      d.release();
    }
    const gz2 = gz.reshape([Co, R]);
    try {
      const grads: (Tensor | null)[] = [null, null, null];
      if (needs[0]) be().gemm(gz2, sW, (grads[0] = Tensor.empty([R, Ci], g.dtype, 'gradient')), { transA: true });
      if (needs[1]) be().gemm(gz2, sx, (grads[1] = Tensor.zeros([Co, Ci], paramGradDType(W), 'gradient')), { accumulate: true });
      if (needs[2] && bias) grads[2] = channelBiasGrad(gz, bias.shape, paramGradDType(bias));
      return grads;
    } finally {
      gz2.release();
      if (gz !== g) gz.release();
    }
  }, d ? [sx, sW, d] : [sx, sW]);
}

/**
 * A linear layer from channel-first to rows: x [1, Ci, R] → y [R, Co] = xᵀ·Wᵀ + bias. Backward:
 * gx = Wᵀ·gᵀ, gW = gᵀ·xᵀ, gb = Σ_r g.
 */
export function linearToRows(x: Variable, W: Variable, bias?: Variable): Variable {
  const op = 'linearToRows';
  const { R, Ci, Co } = rowMixingDims(op, x, W, bias, true);
  const out = Tensor.empty([R, Co], x.dtype, 'activation');
  const x2 = x.value.reshape([Ci, R]);
  be().gemm(x2, W.value, out, { transA: true, transB: true });
  if (bias) be().channelAffine(out, null, bias.value, out);
  const sW = save(W.value);
  return record(op, [x, W, bias ?? null], out, (g, needs) => {
    const grads: (Tensor | null)[] = [null, null, null];
    if (needs[0]) {
      const gx = Tensor.empty([Ci, R], g.dtype, 'gradient');
      be().gemm(sW, g, gx, { transA: true, transB: true });
      grads[0] = gx.reshapeOwned([1, Ci, R]);
    }
    if (needs[1]) be().gemm(g, x2, (grads[1] = Tensor.zeros([Co, Ci], paramGradDType(W), 'gradient')), { transA: true, transB: true, accumulate: true });
    if (needs[2] && bias) grads[2] = channelBiasGrad(g, bias.shape, paramGradDType(bias));
    return grads;
  }, [x2, sW]);
}

/**
 * Columns c0 … c1 − 1 of a matrix W [M, N] as a new [M, c1 − c0] matrix (the block of a layer's weight
 * that acts on one part of a concatenated input). Backward: the gradient placed in that block of zeros.
 */
export function sliceColumns(W: Variable, c0: number, c1: number): Variable {
  const op = 'sliceColumns';
  if (W.value.ndim !== 2) throw new RangeError(`${op}: W must be 2-D, got ${fmtShape(W.shape)}`);
  const [M, N] = W.shape as [number, number];
  if (!(Number.isInteger(c0) && Number.isInteger(c1) && c0 >= 0 && c1 > c0 && c1 <= N)) throw new RangeError(`${op}: columns ${c0} … ${c1 - 1} are not inside the ${N} columns of ${fmtShape(W.shape)}`);
  const w = c1 - c0;
  const src = W.value.toFloat64();
  const v = new Float64Array(M * w);
  for (let i = 0; i < M; i++) for (let j = 0; j < w; j++) v[i * w + j] = src[i * N + c0 + j]!;
  const out = Tensor.fromArray(v, [M, w], W.dtype, 'activation');
  return record(op, [W], out, (g) => {
    const gv = g.toFloat64();
    const full = new Float64Array(M * N);
    for (let i = 0; i < M; i++) for (let j = 0; j < w; j++) full[i * N + c0 + j] = gv[i * w + j]!;
    return [Tensor.fromArray(full, [M, N], g.dtype, 'gradient')];
  });
}

/**
 * Rows scaled by constants: y[r, :] = s[r]·x[r, :] (quadrature weights on a graph's edges). x [R, C],
 * s a tensor of R values (no gradient). Backward: gx[r, :] = s[r]·g[r, :].
 */
export function rowScale(x: Variable, s: Tensor): Variable {
  const op = 'rowScale';
  if (x.value.ndim !== 2 || s.size !== x.shape[0]) throw new RangeError(`${op}: x ${fmtShape(x.shape)} must be [rows, channels] with one scale per row (got ${s.size} scales)`);
  const [R, C] = x.shape as [number, number];
  const out = Tensor.empty([R, C], x.dtype, 'activation');
  const ss = save(s);
  scaleRows(x.value, ss, out);
  return record(op, [x], out, (g) => {
    const gx = Tensor.empty([R, C], g.dtype, 'gradient');
    scaleRows(g, ss, gx);
    return [gx];
  }, [ss]);
}

/**
 * Concatenation along the channel axis: [B, C_a, …] and [B, C_b, …] (same dtype, same other axes) →
 * [B, C_a + C_b, …] (neuralop's torch.cat(…, dim=channels)). Backward: the gradient split back.
 */
export function concatChannels(a: Variable, b: Variable): Variable {
  const op = 'concatChannels';
  if (a.value.ndim < 2 || b.value.ndim !== a.value.ndim || a.shape[0] !== b.shape[0] || !shapeEq(a.shape.slice(2), b.shape.slice(2)) || a.dtype !== b.dtype) {
    throw new RangeError(`${op}: ${fmtShape(a.shape)} ${a.dtype} and ${fmtShape(b.shape)} ${b.dtype} must share the batch, spatial axes and dtype`);
  }
  const B = a.shape[0]!;
  const S = shapeSize(a.shape.slice(2));
  const Ca = a.shape[1]!;
  const Cb = b.shape[1]!;
  const out = Tensor.empty([B, Ca + Cb, ...a.shape.slice(2)], a.dtype, 'activation');
  const od = out.data;
  for (let i = 0; i < B; i++) {
    od.set(a.value.data.subarray(i * Ca * S, (i + 1) * Ca * S) as never, i * (Ca + Cb) * S);
    od.set(b.value.data.subarray(i * Cb * S, (i + 1) * Cb * S) as never, (i * (Ca + Cb) + Ca) * S);
  }
  return record(op, [a, b], out, (g, needs) => {
    const split = (c0: number, C: number, shape: readonly number[]): Tensor => {
      const t = Tensor.empty(shape, g.dtype, 'gradient');
      for (let i = 0; i < B; i++) t.data.set(g.data.subarray((i * (Ca + Cb) + c0) * S, (i * (Ca + Cb) + c0 + C) * S) as never, i * C * S);
      return t;
    };
    return [needs[0] ? split(0, Ca, a.shape) : null, needs[1] ? split(Ca, Cb, b.shape) : null];
  });
}

/**
 * The dense spectral weight contraction: Y[m] = X[m]·W[m] for every kept mode m, one fused complex
 * GEMM. X: packed [2, M, B, Ci]; W = Wr + i·Wi, each [M, Ci, Co] (float32 masters); the product is
 * computed on copies of the weights in X's dtype (half copies in half precision), accumulating in
 * float32. Output packed [2, M, B, Co] in X's dtype. Backward: dX = dY·W^H (X's dtype), dW = X^H·dY
 * (float32, float64 for float64 weights).
 */
export function modeContract(X: Variable, Wr: Variable, Wi: Variable): Variable {
  const op = 'modeContract';
  if (X.value.ndim !== 4 || X.shape[0] !== 2) throw new RangeError(`${op}: spectrum ${fmtShape(X.shape)} is not packed [2, modes, batch, in]`);
  const [, M, B, Ci] = X.shape as [number, number, number, number];
  if (Wr.value.ndim !== 3 || Wr.shape[0] !== M || Wr.shape[1] !== Ci || !shapeEq(Wr.shape, Wi.shape)) {
    throw new RangeError(`${op}: weights ${fmtShape(Wr.shape)} / ${fmtShape(Wi.shape)} must both be [${M}, ${Ci}, out] for a spectrum ${fmtShape(X.shape)}`);
  }
  const Co = Wr.shape[2]!;
  const dt = X.dtype;
  // the backward keeps views of the master weights, not their half-precision copies: it rounds them
  // again (a few hundred thousand values, bit-identical to the forward's), which keeps two weight-sized
  // half tensors per layer out of the saved activations
  const sWr = save(Wr.value);
  const sWi = save(Wi.value);
  // the weights as the contraction takes them: rounded to X's dtype for the one call
  const withWeights = (f: (re: Tensor, im: Tensor) => void): void => {
    if (dt === Wr.dtype) return f(sWr, sWi);
    const hr = Tensor.empty(Wr.shape, dt, 'workspace');
    const hi = Tensor.empty(Wi.shape, dt, 'workspace');
    try {
      be().convert(sWr, hr);
      be().convert(sWi, hi);
      f(hr, hi);
    } finally {
      hr.release();
      hi.release();
    }
  };
  const Xc = ComplexTensor.fromPacked(X.value);
  const Y = ComplexTensor.empty([M, B, Co], dt, 'activation');
  try {
    withWeights((re, im) => be().complexGemm(Xc, { re, im }, Y));
  } catch (e) {
    Y.release();
    Xc.release();
    throw e;
  }
  const out = Y.packed();
  Y.release();
  const wdt = Wr.dtype === 'float64' ? 'float64' : 'float32';
  return record(op, [X, Wr, Wi], out, (g, needs) => {
    const b = be();
    const dY = ComplexTensor.fromPacked(g);
    let gX: Tensor | null = null;
    let gWr: Tensor | null = null;
    let gWi: Tensor | null = null;
    try {
      if (needs[0]) {
        const dX = ComplexTensor.empty([M, B, Ci], dt, 'gradient');
        withWeights((re, im) => b.complexGemm(dY, { re, im }, dX, { transB: true, conjB: true })); // dY·W^H
        gX = dX.packed('gradient');
        dX.release();
      }
      if (needs[1] || needs[2]) {
        // dW = X^H·dY (both parts: the pair is one complex weight)
        gWr = Tensor.empty([M, Ci, Co], wdt, 'gradient');
        gWi = Tensor.empty([M, Ci, Co], wdt, 'gradient');
        b.complexGemm(Xc, dY, { re: gWr, im: gWi }, { transA: true, conjA: true });
        if (!needs[1]) {
          gWr.release();
          gWr = null;
        }
        if (!needs[2]) {
          gWi.release();
          gWi = null;
        }
      }
    } finally {
      dY.release();
    }
    return [gX, gWr, gWi];
  }, [Xc.re, Xc.im, sWr, sWi]);
}

/**
 * The dense spectral convolution as one composition: y = irfftn(W · rfftn(x)) over the kept modes,
 * plus bias. x: [B, Ci, n1…nd]; Wr, Wi: [M, Ci, Co] with M = Π modes (mode-major, centred order as
 * rfftnModes returns them); bias: [Co] (optional). Output [B, Co, n1…nd]. `stages` sets the dtypes
 * of the transforms and the contraction (default: full precision in the input's dtype).
 */
export function spectralConv(x: Variable, Wr: Variable, Wi: Variable, bias: Variable | undefined, o: { modes: readonly number[]; norm: FftNorm; stages?: SpectralStages }): Variable {
  const st = o.stages ?? fullStages(x);
  const M = shapeSize(o.modes);
  const B = x.shape[0]!;
  const X = rfftModes(x, o.modes, { norm: o.norm, spectrum: st.spectrum, transformIn: st.transformIn, emulate: st.forwardEmulate });
  const Xm = reshape(X, [2, M, B, x.shape[1]!]);
  const Ym = modeContract(Xm, Wr, Wi);
  const Y = reshape(Ym, [2, ...o.modes, B, Ym.shape[3]!]);
  return irfftModes(Y, x.shape.slice(2), { norm: o.norm, dtype: x.dtype, emulate: st.inverseEmulate }, bias);
}

/**
 * Clamps x to mean ± k·σ of its own values (the research code's 'clip_sigma' stabiliser); the bounds
 * are treated as constants in the backward.
 */
export function clampSigma(x: Variable, k = 2): Variable {
  const n = x.size;
  const s1 = be().reduce('sum', x.value);
  const s2 = be().reduce('sumSquares', x.value);
  const mean = s1 / n;
  const std = Math.sqrt(Math.max(0, s2 / n - mean * mean));
  return clamp(x, mean - k * std, mean + k * std);
}

/**
 * Copies a [R, …sizes] block into (intoPadded) or out of a [R, …padded] block placed at `offsets`,
 * one contiguous last-axis row at a time on the raw storage (16-bit codes are copied as they are).
 */
function copyBlock(src: Tensor, srcSizes: readonly number[], dst: Tensor, dstSizes: readonly number[], R: number, offsets: readonly number[], intoPadded: boolean): void {
  const d = srcSizes.length;
  const inner = intoPadded ? srcSizes : dstSizes; // the unpadded sizes
  const outer = intoPadded ? dstSizes : srcSizes; // the padded sizes
  const len = inner[d - 1]!;
  const rowsPer = shapeSize(inner.slice(0, -1));
  const Sin = shapeSize(inner);
  const Sout = shapeSize(outer);
  const sv = src.data as Float32Array;
  const dv = dst.data as Float32Array;
  const idx = new Array<number>(Math.max(0, d - 1)).fill(0);
  for (let q = 0; q < rowsPer; q++) {
    let rem = q;
    for (let a = d - 2; a >= 0; a--) {
      idx[a] = rem % inner[a]!;
      rem = Math.floor(rem / inner[a]!);
    }
    let o = 0;
    for (let a = 0; a < d - 1; a++) o = o * outer[a]! + idx[a]! + offsets[a]!;
    o = o * outer[d - 1]! + offsets[d - 1]!;
    for (let r = 0; r < R; r++) {
      if (intoPadded) dv.set(sv.subarray(r * Sin + q * len, r * Sin + (q + 1) * len), r * Sout + o);
      else dv.set(sv.subarray(r * Sout + o, r * Sout + o + len), r * Sin + q * len);
    }
  }
}

/**
 * Zero-pads the trailing spatial axes of x [B, C, n1…nd] by before[a] points in front and after[a]
 * behind (neuralop's domain padding); the backward crops the gradient.
 */
export function pad(x: Variable, before: readonly number[], after: readonly number[]): Variable {
  const d = before.length;
  const sizes = x.shape.slice(2);
  if (x.value.ndim !== d + 2 || after.length !== d) throw new RangeError(`pad: x ${fmtShape(x.shape)} needs ${d} spatial axes and ${d} before/after amounts`);
  for (const v of [...before, ...after]) if (!Number.isInteger(v) || v < 0) throw new RangeError(`pad: amounts must be non-negative integers, got [${before}] / [${after}]`);
  const padded = sizes.map((n, a) => n + before[a]! + after[a]!);
  const R = x.shape[0]! * x.shape[1]!;
  const value = Tensor.zeros([x.shape[0]!, x.shape[1]!, ...padded], x.dtype, 'activation');
  copyBlock(x.value, sizes, value, padded, R, before, true);
  return record('pad', [x], value, (g) => {
    const gx = Tensor.empty(x.shape, g.dtype, 'gradient');
    copyBlock(g, padded, gx, sizes, R, before, false);
    return [gx];
  });
}

/** The inverse of pad: keeps sizes[a] points starting at before[a] on each spatial axis. */
export function crop(x: Variable, before: readonly number[], sizes: readonly number[]): Variable {
  const d = before.length;
  const padded = x.shape.slice(2);
  if (x.value.ndim !== d + 2 || sizes.length !== d || sizes.some((n, a) => before[a]! + n > padded[a]!)) {
    throw new RangeError(`crop: cannot take [${sizes}] at [${before}] from ${fmtShape(x.shape)}`);
  }
  const R = x.shape[0]! * x.shape[1]!;
  const value = Tensor.empty([x.shape[0]!, x.shape[1]!, ...sizes], x.dtype, 'activation');
  copyBlock(x.value, padded, value, sizes, R, before, false);
  return record('crop', [x], value, (g) => {
    const gx = Tensor.zeros(x.shape, g.dtype, 'gradient');
    copyBlock(g, sizes, gx, padded, R, before, true);
    return [gx];
  });
}

/** Per sample and group: mean and 1/√(biased variance + eps) of x (float64 values), over the group's channels and points. */
function groupStats(v: Float64Array, B: number, C: number, S: number, G: number, eps: number): { mean: Float64Array; rstd: Float64Array } {
  const per = (C / G) * S;
  const mean = new Float64Array(B * G);
  const rstd = new Float64Array(B * G);
  for (let q = 0; q < B * G; q++) {
    let s = 0;
    for (let i = q * per; i < (q + 1) * per; i++) s += v[i]!;
    const m = s / per;
    let s2 = 0;
    for (let i = q * per; i < (q + 1) * per; i++) s2 += (v[i]! - m) ** 2;
    mean[q] = m;
    rstd[q] = 1 / Math.sqrt(s2 / per + eps);
  }
  return { mean, rstd };
}

/**
 * Group normalisation as torch.nn.GroupNorm / F.group_norm: per sample and group of C/G channels,
 * x̂ = (x − mean) / √(var + eps) over the group's channels and points (biased variance), then the
 * optional per-channel affine w[c]·x̂ + b[c] (weight and bias [C]). G = C without affine is
 * neuralop's InstanceNorm. Statistics and gradients in float64; the result in x's dtype.
 */
export function groupNorm(x: Variable, groups: number, eps: number, weight?: Variable, bias?: Variable): Variable {
  const op = 'groupNorm';
  const { B, C, S } = batchView(x.value, op);
  if (!Number.isInteger(groups) || groups < 1 || C % groups !== 0) throw new RangeError(`${op}: ${C} channels do not split into ${groups} groups`);
  for (const [p, name] of [[weight, 'weight'], [bias, 'bias']] as const) {
    if (p && p.size !== C) throw new RangeError(`${op}: ${name} ${fmtShape(p.shape)} must have ${C} elements (x ${fmtShape(x.shape)})`);
  }
  const G = groups;
  const per = (C / G) * S;
  const v = x.value.toFloat64();
  const { mean, rstd } = groupStats(v, B, C, S, G, eps);
  const w = weight?.value.toFloat64();
  const b = bias?.value.toFloat64();
  const y = new Float64Array(v.length);
  for (let n = 0; n < B; n++) {
    for (let c = 0; c < C; c++) {
      const q = n * G + Math.floor(c / (C / G));
      const sc = (w ? w[c]! : 1) * rstd[q]!;
      const sh = (b ? b[c]! : 0) - mean[q]! * sc;
      for (let i = (n * C + c) * S, e = i + S; i < e; i++) y[i] = v[i]! * sc + sh;
    }
  }
  const out = Tensor.fromArray(y, x.shape, x.dtype, 'activation');
  const sx = save(x.value);
  const sw = weight ? save(weight.value) : null;
  return record(op, [x, weight ?? null, bias ?? null], out, (g, needs) => {
    const gv = g.toFloat64();
    const xv = sx.toFloat64();
    const st = groupStats(xv, B, C, S, G, eps);
    const wv = sw?.toFloat64();
    const gw = new Float64Array(C);
    const gb = new Float64Array(C);
    const gx = needs[0] ? new Float64Array(xv.length) : null;
    const cg = C / G;
    for (let n = 0; n < B; n++) {
      for (let k = 0; k < G; k++) {
        const q = n * G + k;
        const m = st.mean[q]!;
        const r = st.rstd[q]!;
        // dx̂ = dy·w; dx = r·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) over the group
        let sumD = 0;
        let sumDX = 0;
        for (let c = k * cg; c < (k + 1) * cg; c++) {
          const wc = wv ? wv[c]! : 1;
          for (let i = (n * C + c) * S, e = i + S; i < e; i++) {
            const xh = (xv[i]! - m) * r;
            const gi = gv[i]!;
            gw[c] += gi * xh;
            gb[c] += gi;
            sumD += gi * wc;
            sumDX += gi * wc * xh;
          }
        }
        if (!gx) continue;
        const md = sumD / per;
        const mdx = sumDX / per;
        for (let c = k * cg; c < (k + 1) * cg; c++) {
          const wc = wv ? wv[c]! : 1;
          for (let i = (n * C + c) * S, e = i + S; i < e; i++) {
            const xh = (xv[i]! - m) * r;
            gx[i] = r * (gv[i]! * wc - md - xh * mdx);
          }
        }
      }
    }
    return [
      gx ? Tensor.fromArray(gx, x.shape, g.dtype, 'gradient') : null,
      needs[1] && weight ? Tensor.fromArray(gw, weight.shape, paramGradDType(weight), 'gradient') : null,
      needs[2] && bias ? Tensor.fromArray(gb, bias.shape, paramGradDType(bias), 'gradient') : null,
    ];
  }, sw ? [sx, sw] : [sx]);
}

/** An elementwise function and its derivative, computed in float64 (the result in x's dtype). */
function pointwise(op: string, x: Variable, f: (v: number) => number, df: (v: number) => number): Variable {
  const v = x.value.toFloat64();
  const y = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) y[i] = f(v[i]!);
  const out = Tensor.fromArray(y, x.shape, x.dtype, 'activation');
  const sx = save(x.value);
  return record(op, [x], out, (g) => {
    const gv = g.toFloat64();
    const xv = sx.toFloat64();
    const gx = new Float64Array(gv.length);
    for (let i = 0; i < gv.length; i++) gx[i] = gv[i]! * df(xv[i]!);
    return [Tensor.fromArray(gx, g.shape, g.dtype, 'gradient')];
  }, [sx]);
}

const sigm = (v: number): number => 1 / (1 + Math.exp(-v));

/** The activations neuralop's FNO takes as `non_linearity` (torch.nn.functional's), by name. */
export type Activation = 'gelu' | 'relu' | 'silu' | 'tanh' | 'sigmoid';
export const ACTIVATIONS: readonly Activation[] = ['gelu', 'relu', 'silu', 'tanh', 'sigmoid'];

/** activation(x): GELU (erf form) and tanh on the SIMD kernels; relu, silu and sigmoid elementwise in float64. */
export function activate(x: Variable, kind: Activation): Variable {
  switch (kind) {
    case 'gelu': return gelu(x);
    case 'tanh': return tanh(x);
    case 'relu': return pointwise('relu', x, (v) => (v > 0 ? v : 0), (v) => (v > 0 ? 1 : 0));
    case 'silu': return pointwise('silu', x, (v) => v * sigm(v), (v) => {
      const s = sigm(v);
      return s * (1 + v * (1 - s));
    });
    case 'sigmoid': return pointwise('sigmoid', x, sigm, (v) => {
      const s = sigm(v);
      return s * (1 - s);
    });
  }
}
