// safetensors files: the byte codec of safetensors-codec.ts plus reading and writing files (Node).
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { writeFileAtomic } from './atomic.js';
import {
  MAX_HEADER, type SafetensorsContents, SafetensorsError, type SafetensorsHeader, type SafetensorsReadOptions,
  type SafetensorsWriteOptions, decodeSafetensors, encodeSafetensors, parseSafetensorsHeader,
} from './safetensors-codec.js';
import type { Tensor } from '../../core/tensor.js';

export * from './safetensors-codec.js';

/** Reads only the header of a safetensors file (its first 8 + N bytes), checked against the file's size. */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const head = new Uint8Array(8);
    const got = readSync(fd, head, 0, 8, 0);
    if (got < 8) return parseSafetensorsHeader(head.subarray(0, got), path, size);
    const n = Number(new DataView(head.buffer).getBigUint64(0, true));
    if (n > MAX_HEADER || n > size - 8) return parseSafetensorsHeader(head, path, size);
    const bytes = new Uint8Array(8 + n);
    bytes.set(head);
    let off = 8;
    while (off < bytes.length) {
      const r = readSync(fd, bytes, off, bytes.length - off, off);
      if (r === 0) break;
      off += r;
    }
    return parseSafetensorsHeader(bytes.subarray(0, off), path, size);
  } finally {
    closeSync(fd);
  }
}

/** Reads a safetensors file into new tensors. */
export function readSafetensors(path: string, opts: SafetensorsReadOptions = {}): SafetensorsContents {
  return decodeSafetensors(readFileSync(path), path, opts);
}

/**
 * Writes tensors (and optional metadata) to `path` atomically: the bytes go to a temporary file in
 * the same directory, which is synced and then renamed into place. On any error the temporary file is
 * removed and `path` is left as it was.
 */
export function writeSafetensors(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>, opts: SafetensorsWriteOptions = {}): void {
  let bytes: Uint8Array;
  try {
    bytes = encodeSafetensors(tensors, metadata, opts);
  } catch (e) {
    if (e instanceof SafetensorsError) throw new SafetensorsError(`${path}: ${e.message.replace(/^safetensors: /, '')}`);
    throw e;
  }
  try {
    writeFileAtomic(path, bytes);
  } catch (e) {
    throw new SafetensorsError(`${path}: could not write the file (${(e as Error).message})`, { cause: e });
  }
}
