/**
 * The einsum parser of the contraction engine: equations with single lowercase letters as indices,
 * the size of every index from the operand shapes, and index sets as bit masks (shared by the planner
 * and the executor). The errors of the whole engine are defined here.
 */
import { type Shape, fmtShape } from '../../core/tensor.js';

// ---------------------------------------------------------------------------------------------------
// Errors

/** Base class of every error the einsum parser, the planner and contractComplex raise. */
export class EinsumError extends Error {
  override name = 'EinsumError';
}

/** The equation is malformed: a character other than a–z, ',', '->' or spaces, or a stray '-'/'>'. */
export class EinsumSyntaxError extends EinsumError {
  override name = 'EinsumSyntaxError';
}

/**
 * The indices do not fit together: an output index that no input has, an index repeated in the output
 * or inside one operand (diagonals are not supported), or a different number of operands than terms.
 */
export class EinsumIndexError extends EinsumError {
  override name = 'EinsumIndexError';
}

/** The shapes do not fit the equation: wrong rank for a term, or one index with two different sizes. */
export class EinsumShapeError extends EinsumError {
  override name = 'EinsumShapeError';
}

/** The plan cannot be made: fewer than 2 operands, or 'optimal' asked for too many operands. */
export class ContractionPlanError extends EinsumError {
  override name = 'ContractionPlanError';
}

// ---------------------------------------------------------------------------------------------------
// Parsing

export interface ParsedEinsum {
  /** One index string per operand, e.g. ['bixy', 'ioxy']. */
  inputs: string[];
  /** The output indices; without '->', the indices that occur exactly once, in alphabetical order. */
  output: string;
}

/**
 * Parses an einsum equation with single lowercase letters as indices ('bixy,ioxy->boxy'). Spaces are
 * ignored. Throws EinsumSyntaxError / EinsumIndexError.
 */
export function parseEinsum(equation: string): ParsedEinsum {
  if (typeof equation !== 'string') throw new EinsumSyntaxError(`einsum: the equation must be a string, got ${typeof equation}`);
  const eq = equation.replace(/\s+/g, '');
  for (let i = 0; i < eq.length; i++) {
    const ch = eq[i]!;
    if (!/[a-z,\->]/.test(ch)) {
      throw new EinsumSyntaxError(
        `einsum '${equation}': unknown character '${ch}' (indices are single lowercase letters a–z; operands are separated by ',' and the output follows '->')`,
      );
    }
  }
  const arrow = eq.indexOf('->');
  if (arrow !== eq.lastIndexOf('->')) throw new EinsumSyntaxError(`einsum '${equation}': more than one '->'`);
  const lhs = arrow >= 0 ? eq.slice(0, arrow) : eq;
  const rhs = arrow >= 0 ? eq.slice(arrow + 2) : null;
  if (/[->]/.test(lhs) || (rhs !== null && /[->,]/.test(rhs))) {
    throw new EinsumSyntaxError(`einsum '${equation}': '-' and '>' may only appear together as '->', and the output is one term`);
  }
  const inputs = lhs.split(',');
  for (const [p, t] of inputs.entries()) {
    const seen = new Set<string>();
    for (const c of t) {
      if (seen.has(c)) {
        throw new EinsumIndexError(`einsum '${equation}': index '${c}' repeats inside operand ${p} ('${t}'); diagonals are not supported`);
      }
      seen.add(c);
    }
  }
  const counts = new Map<string, number>();
  for (const t of inputs) for (const c of t) counts.set(c, (counts.get(c) ?? 0) + 1);
  let output: string;
  if (rhs === null) {
    output = [...counts].filter(([, n]) => n === 1).map(([c]) => c).sort().join('');
  } else {
    output = rhs;
    const seen = new Set<string>();
    for (const c of output) {
      if (seen.has(c)) throw new EinsumIndexError(`einsum '${equation}': output index '${c}' repeats`);
      seen.add(c);
      if (!counts.has(c)) throw new EinsumIndexError(`einsum '${equation}': output index '${c}' is in no operand`);
    }
  }
  return { inputs, output };
}


/** Checks shapes against the parsed equation and returns the size of every index. */
export function indexSizes(equation: string, p: ParsedEinsum, shapes: readonly Shape[]): Map<string, number> {
  if (!Array.isArray(shapes) || shapes.length !== p.inputs.length) {
    throw new EinsumIndexError(
      `einsum '${equation}': the equation has ${p.inputs.length} operand${p.inputs.length === 1 ? '' : 's'}, got ${Array.isArray(shapes) ? shapes.length : 'no list of'} shapes/operands`,
    );
  }
  const sizes = new Map<string, number>();
  const from = new Map<string, number>();
  for (const [o, term] of p.inputs.entries()) {
    const sh = shapes[o]!;
    if (sh.length !== term.length) {
      throw new EinsumShapeError(`einsum '${equation}': operand ${o} ('${term}') needs ${term.length} axes, got shape ${fmtShape(sh)}`);
    }
    for (let a = 0; a < term.length; a++) {
      const c = term[a]!;
      const d = sh[a]!;
      if (!Number.isInteger(d) || d < 0) throw new EinsumShapeError(`einsum '${equation}': operand ${o} has an invalid shape ${fmtShape(sh)}`);
      const prev = sizes.get(c);
      if (prev === undefined) {
        sizes.set(c, d);
        from.set(c, o);
      } else if (prev !== d) {
        throw new EinsumShapeError(
          `einsum '${equation}': index '${c}' has size ${prev} in operand ${from.get(c)} (${fmtShape(shapes[from.get(c)!]!)}) but ${d} in operand ${o} (${fmtShape(sh)})`,
        );
      }
    }
  }
  return sizes;
}

// ---------------------------------------------------------------------------------------------------
// Index sets as bit masks (a = bit 0 … z = bit 25)

export function maskOf(s: string): number {
  let m = 0;
  for (const c of s) m |= 1 << (c.charCodeAt(0) - 97);
  return m;
}

/** The letters of `order` whose bit is in `mask`, in the order they appear. */
export function pick(order: string, mask: number): string {
  let r = '';
  for (const c of order) if (mask & (1 << (c.charCodeAt(0) - 97))) r += c;
  return r;
}

export function sizeOfMask(mask: number, bitSizes: Float64Array): number {
  let s = 1;
  for (let b = 0; mask !== 0; b++, mask >>>= 1) if (mask & 1) s *= bitSizes[b]!;
  return s;
}

export function sizeOfOrder(order: string, sizes: Map<string, number>): number {
  let s = 1;
  for (const c of order) s *= sizes.get(c)!;
  return s;
}
