/**
 * The pool's per-worker control block, shared by the main thread (pool.ts) and the workers
 * (worker.ts): Int32 control words, then Float64 argument slots at +64, the last slot holding the
 * return value, then the message of a call that failed on the worker.
 */
export const ARG_SLOTS = 32;
/** Offset of a failed call's message: a Uint16 length, then that many UTF-16 code units. */
export const ERROR_OFFSET = 64 + 8 * ARG_SLOTS;
/** UTF-16 code units a message keeps (longer ones are cut). */
export const ERROR_CHARS = 511;
/** Bytes of one control block: 64 bytes of Int32 words, the argument slots, the error message. */
export const CONTROL_BLOCK_BYTES = ERROR_OFFSET + 2 * (ERROR_CHARS + 1);

/** Writes a failed call's message into a control block's error area (see ERROR_OFFSET). */
export function writeError(buf: ArrayBufferLike, ctl: number, message: string): void {
  const text = new Uint16Array(buf, ctl + ERROR_OFFSET, ERROR_CHARS + 1);
  const n = Math.min(message.length, ERROR_CHARS);
  for (let i = 0; i < n; i++) text[i + 1] = message.charCodeAt(i);
  text[0] = n;
}

/** Reads the message writeError left. */
export function readError(buf: ArrayBufferLike, ctl: number): string {
  const text = new Uint16Array(buf, ctl + ERROR_OFFSET, ERROR_CHARS + 1);
  return String.fromCharCode(...text.subarray(1, 1 + Math.min(text[0]!, ERROR_CHARS)));
}
