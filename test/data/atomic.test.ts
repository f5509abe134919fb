import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fsStep, makeDirectory } from '../../src/data/formats/atomic.js';

describe('file-system errors with context', () => {
  it('a full disk (ENOSPC, /dev/full) is reported with the file and the reason', () => {
    assert.throws(() => fsStep('write the training state', '/dev/full', () => writeFileSync('/dev/full', 'x')), (e: Error) => {
      assert.equal(e.message, '/dev/full: cannot write the training state (ENOSPC, no space left on the device)');
      return true;
    });
    // errors that are not file-system errors pass unchanged
    assert.throws(() => fsStep('x', '/tmp', () => { throw new RangeError('other'); }), /^RangeError: other$/);
  });

  it('makeDirectory names the component that blocks it and never spins', () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'mpno-mkdir-'));
    const file = path.join(tmp, 'f');
    writeFileSync(file, '');
    assert.throws(() => makeDirectory(path.join(file, 'a', 'b'), 'run directory'), new RegExp(`f/a/b: cannot create the run directory \\(${file} is a file, not a directory\\)`));
    // /proc answers ENOENT under an existing parent: Node's recursive mkdir loops on it forever
    assert.throws(() => makeDirectory('/proc/mpno-test/x'), /\/proc\/mpno-test\/x: cannot create the directory \(\/proc does not accept new directories: ENOENT/);
    makeDirectory(path.join(tmp, 'a', 'b'));
    makeDirectory(path.join(tmp, 'a', 'b')); // exists: nothing to do
    assert.ok(existsSync(path.join(tmp, 'a', 'b')));
  });
});
