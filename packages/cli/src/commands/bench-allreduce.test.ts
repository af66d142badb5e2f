import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../errors.js';
import { parseSize } from './bench-allreduce.js';

test('sizes take K, M, G suffixes (powers of 1024) and must be whole floats', () => {
  assert.equal(parseSize('1K', 'min-bytes'), 1024);
  assert.equal(parseSize('64M', 'max-bytes'), 64 << 20);
  assert.equal(parseSize('4096', 'x'), 4096);
  assert.equal(parseSize('16KiB', 'x'), 16384);
  assert.equal(parseSize('1g', 'x'), 1 << 30);
  assert.throws(() => parseSize('3', 'max-bytes'), (e: unknown) => e instanceof UsageError && /multiple of 4/.test(e.message));
  assert.throws(() => parseSize('lots', 'max-bytes'), (e: unknown) => e instanceof UsageError && /--max-bytes must be a size/.test(e.message));
});
