/**
 * Complex einsum over planar ComplexTensors, executed pairwise with batched real GEMMs, for the
 * contractions of spectral convolutions (dense 'bixy,ioxy->boxy', CP 'abcd,e,be,fe,ce,de->afcd',
 * Tucker and tensor-train chains).
 *
 * How neuralop does it in half precision (method notes §1.5): torch.einsum has no complex32, so it views
 * each operand as real, contracts the operands two at a time along opt_einsum's path and recombines
 * real and imaginary parts after every pairwise step, keeping every intermediate in fp16. Here:
 *
 * - `planContraction` finds the pairwise path (opt_einsum's 'greedy' heuristic or an exhaustive
 *   'optimal' search) and maps each pairwise step to ONE batched GEMM shape [batch, M, K]·[batch, K, N]:
 *   batch = indices in both operands and kept, K = in both and summed, M / N = in one operand only.
 *   It also picks, per step, which operand is the left factor and the order of the index groups so that
 *   as few permuted copies as possible are needed (GEMM transposes absorb a [K, M] layout).
 * - `contractComplex` runs the plan: each complex product is 4 real GEMMs (re = ar·br − ai·bi,
 *   im = ar·bi + ai·br, the second product of each part accumulating into the first) or 3 (Gauss:
 *   t1 = ar·br, t2 = ai·bi, t3 = (ar+ai)·(br+bi); re = t1 − t2, im = t3 − t1 − t2). A product with a
 *   real operand needs 2 GEMMs, real·real 1. Every value the contraction produces (each intermediate,
 *   the Gauss sums and partial products, the output) is stored in the requested dtype; inside each GEMM
 *   the accumulation is f32 (see Backend.gemm). Operands are read in their own dtype and are never
 *   rounded (their permuted copies, where needed, keep the operand's dtype).
 *
 * Cost model: a pairwise step costs `products × opt_einsum's flop count`, where opt_einsum counts
 * Π(sizes of all indices of the step) × (2 if some index is summed, else 1), and products is 1, 2, 3
 * or 4 as above. The 3-product form's input sums and output subtractions are not counted.
 *
 * Files: parse.ts (equations, index sizes, errors), plan.ts (path and GEMM layouts, formatPlan),
 * execute.ts (contractComplex, permute helpers on Backend.permute), autograd.ts (the differentiable
 * op `contract` over packed planar complex Variables, packComplex, complexParts).
 */
export {
  ContractionPlanError, EinsumError, EinsumIndexError, EinsumShapeError, EinsumSyntaxError, type ParsedEinsum, parseEinsum,
} from './parse.js';
export {
  type ContractDType, type ContractionPlan, type ContractionStep, type ContractionStrategy, OPTIMAL_MAX_OPERANDS, type PlanOptions,
  type ProductForm, type StepLayout, formatPlan, peakIntermediate, planContraction, stepBytes,
} from './plan.js';
export { type ComplexOperand, type ContractOptions, chooseForm, contractComplex, permute, permuteInto } from './execute.js';
export { type ContractVarOptions, complexParts, contract, contractPlanCacheStats, packComplex } from './autograd.js';
