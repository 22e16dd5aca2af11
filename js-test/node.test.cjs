// The packed package through CommonJS `require('edgesketch')`.
const { test } = require('node:test');
const assert = require('node:assert/strict');

const es = require('edgesketch');

test('require works synchronously and counts', () => {
  const h = new es.HyperLogLog({ precision: 12 });
  h.addMany(['a', 'b', 'a']);
  assert.equal(h.count(), 2);
  assert.equal(typeof es.ready, 'function');
  const r = new es.Recorder({ replica: '00112233445566778899aabbccddeeff', nextSequence: 9 });
  r.increment('n');
  const env = new es.EnvelopeReader(r.envelope(0));
  assert.equal(env.replica, '00112233445566778899aabbccddeeff');
  assert.equal(env.sequence, 9);
});
