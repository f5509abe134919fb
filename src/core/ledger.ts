import type { DType } from './dtype.js';

/** What an allocation is for; benchmarks report peak bytes by role. */
export type Role = 'parameter' | 'gradient' | 'optimizer' | 'activation' | 'workspace' | 'data' | 'other';
export const ROLES: readonly Role[] = ['parameter', 'gradient', 'optimizer', 'activation', 'workspace', 'data', 'other'];

export interface LedgerCounts {
  live: number;
  peak: number;
}

export interface LedgerSnapshot {
  /** Live bytes now. */
  live: number;
  /** Peak live bytes since start or the last resetPeak(). */
  peak: number;
  allocations: number;
  releases: number;
  byRole: Record<Role, LedgerCounts>;
  byDType: Record<DType, LedgerCounts>;
}

function zeroRecord<K extends string>(keys: readonly K[]): Record<K, LedgerCounts> {
  const r = {} as Record<K, LedgerCounts>;
  for (const k of keys) r[k] = { live: 0, peak: 0 };
  return r;
}

/**
 * Counts every tensor allocation and release: live and peak bytes in total, by role and by dtype.
 * Each category keeps its own peak (the peaks of the parts need not add up to the total peak).
 */
export class MemoryLedger {
  private live = 0;
  private peak = 0;
  private allocations = 0;
  private releases = 0;
  private readonly byRole = zeroRecord<Role>(ROLES);
  private readonly byDType = zeroRecord<DType>(['float64', 'float32', 'float16', 'bfloat16']);

  allocate(bytes: number, dtype: DType, role: Role): void {
    this.allocations++;
    this.add(bytes, dtype, role);
  }

  release(bytes: number, dtype: DType, role: Role): void {
    this.releases++;
    this.add(-bytes, dtype, role);
  }

  /** Moves live bytes from one role to another (e.g. an activation kept for backward). */
  retag(bytes: number, dtype: DType, from: Role, to: Role): void {
    if (from === to) return;
    this.bump(this.byRole[from], -bytes);
    this.bump(this.byRole[to], bytes);
    void dtype;
  }

  private add(bytes: number, dtype: DType, role: Role): void {
    this.live += bytes;
    if (this.live > this.peak) this.peak = this.live;
    this.bump(this.byRole[role], bytes);
    this.bump(this.byDType[dtype], bytes);
  }

  private bump(c: LedgerCounts, bytes: number): void {
    c.live += bytes;
    if (c.live > c.peak) c.peak = c.live;
  }

  /** Sets every peak to the current live value. */
  resetPeak(): void {
    this.peak = this.live;
    for (const c of Object.values(this.byRole)) c.peak = c.live;
    for (const c of Object.values(this.byDType)) c.peak = c.live;
  }

  snapshot(): LedgerSnapshot {
    const copy = <K extends string>(r: Record<K, LedgerCounts>): Record<K, LedgerCounts> => {
      const o = {} as Record<K, LedgerCounts>;
      for (const k of Object.keys(r) as K[]) o[k] = { ...r[k] };
      return o;
    };
    return {
      live: this.live,
      peak: this.peak,
      allocations: this.allocations,
      releases: this.releases,
      byRole: copy(this.byRole),
      byDType: copy(this.byDType),
    };
  }
}

/** The process-wide ledger that every tensor allocation reports to. */
export const ledger = new MemoryLedger();
