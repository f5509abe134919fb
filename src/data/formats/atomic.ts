import { randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, existsSync, fsyncSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * Writes `bytes` to a new temporary file beside `path`, syncs it and renames it into place, so that
 * `path` holds either the old or the complete new contents. On any error the temporary file is
 * removed, `path` is untouched and the error is rethrown.
 */
export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  let created = false;
  try {
    fd = openSync(tmp, 'wx');
    created = true;
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        /* already failing */
      }
    }
    if (created) {
      try {
        unlinkSync(tmp);
      } catch {
        /* already gone */
      }
    }
    throw e;
  }
}

const FS_CODES: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a component of the path is not a directory',
  EISDIR: 'is a directory',
  ENOENT: 'no such file or directory',
  EEXIST: 'already exists',
};

/** "ENOSPC (no space left on the device)" for a Node system error; the message otherwise. */
export function describeFsError(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && FS_CODES[code]) return `${code}, ${FS_CODES[code]}`;
  return e instanceof Error ? e.message : String(e);
}

/** Runs a file-system step and rethrows its error as `<path>: cannot <what> (<code, meaning>)`. */
export function fsStep<T>(what: string, path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if ((e as { code?: unknown } | null)?.code === undefined) throw e;
    throw new Error(`${path}: cannot ${what} (${describeFsError(e)})`, { cause: e });
  }
}

/**
 * mkdir -p with an error that names the directory and the reason: the nearest existing ancestor
 * that is not a directory, or that cannot be written (read-only file system, permissions). The
 * components are created one by one (Node's recursive mkdir spins forever where mkdir answers
 * ENOENT under an existing parent, as in /proc).
 */
export function makeDirectory(dir: string, what = 'directory'): void {
  const abs = resolve(dir);
  const missing: string[] = [];
  let up = abs;
  while (!existsSync(up) && dirname(up) !== up) {
    missing.unshift(up);
    up = dirname(up);
  }
  if (!statSync(up).isDirectory()) throw new Error(`${dir}: cannot create the ${what} (${up} is a file, not a directory)`);
  for (const d of missing) {
    try {
      mkdirSync(d);
    } catch (e) {
      if ((e as { code?: unknown }).code === 'EEXIST' && statSync(d).isDirectory()) continue; // made meanwhile
      let why = describeFsError(e);
      if ((e as { code?: unknown }).code === 'ENOENT') why = `${dirname(d)} does not accept new directories: ${why} (a read-only or virtual file system?)`;
      try {
        accessSync(dirname(d), constants.W_OK);
      } catch (w) {
        why = `${dirname(d)} is not writable: ${describeFsError(w)}`;
      }
      throw new Error(`${dir}: cannot create the ${what} (${why})`, { cause: e });
    }
  }
}
