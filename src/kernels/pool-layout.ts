/**
 * The pool's per-worker control block, shared by the main thread (pool.ts) and the workers
 * (worker.ts): Int32 control words, then Float64 argument slots at +64, the last slot holding the
 * return value.
 */
export const ARG_SLOTS = 32;
/** Bytes of one control block: 64 bytes of Int32 words + the argument slots. */
export const CONTROL_BLOCK_BYTES = 64 + 8 * ARG_SLOTS;
