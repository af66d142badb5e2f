// Plain-text tables: padding, right-aligned number columns, key/value lines, truncation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixed, formatFields, formatTable, truncate } from './table.js';

test('columns are padded to their widest cell; number columns are right-aligned, header included', () => {
  const text = formatTable(['id', 'state', 'tokens', 'ms'], [
    ['job-1', 'completed', 200, '3.10'],
    ['a-longer-id', 'failed', 0, '-'],
    ['x', 'active', 1024, '12.25'],
  ]);
  assert.equal(text, [
    'id           state      tokens     ms',
    'job-1        completed     200   3.10',
    'a-longer-id  failed          0      -',
    'x            active       1024  12.25',
    '',
  ].join('\n'));
});

test('a column of text with a number-looking cell stays left-aligned; trailing spaces are trimmed', () => {
  const text = formatTable(['host', 'note'], [['10', 'ok'], ['node-b', '']]);
  assert.equal(text, 'host    note\n10      ok\nnode-b\n');
});

test('a column of only "-" is left as text; an empty table is its header', () => {
  assert.equal(formatTable(['a', 'b'], [['-', 'x']]), 'a  b\n-  x\n');
  assert.equal(formatTable(['rank', 'host'], []), 'rank  host\n');
});

test('thousands separators and negative numbers count as numbers', () => {
  assert.equal(formatTable(['n'], [['1,234'], ['-5']]), '    n\n1,234\n   -5\n');
});

test('formatFields lines up the values', () => {
  assert.equal(formatFields([['state', 'serving'], ['max sequences', 8], ['empty', '']]),
    'state          serving\nmax sequences  8\nempty\n');
});

test('truncate cuts with an ellipsis and flattens whitespace; fixed shows - for no data', () => {
  assert.equal(truncate('short', 10), 'short');
  assert.equal(truncate('a much longer text', 10), 'a much lo…');
  assert.equal(truncate('line one\nline two', 40), 'line one line two');
  assert.equal(fixed(3.14159, 2), '3.14');
  assert.equal(fixed(NaN, 2), '-');
});
