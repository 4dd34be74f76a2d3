// The retention floors follow from the default policy, which must be the Go
// client's client.DefaultPolicy: the numbers below are the Go client's
// (producer.RetentionFloor is 2 h 10 min, the 7800000 ms the conformance
// README's open example answers; consumer.RetentionFloor is 1 h 53 min
// plus a day).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkSpanMs, defaultPolicy, goDuration, over, parseGoDuration } from '../src/policy';
import { retentionFloorMs } from '../src/producer';
import { consumerRetentionFloorMs } from '../src/consumer';

test('the floors are the Go client’s', () => {
  assert.equal(checkSpanMs(defaultPolicy()), 65 * 60_000, 'the last check-back comes 65 minutes after prepare');
  assert.equal(retentionFloorMs(), 7_800_000);
  assert.equal(consumerRetentionFloorMs(), (113 + 24 * 60) * 60_000);
});

test('a message policy over the default keeps the fields it sets', () => {
  const p = over({ checkDelayMs: 200, checkMaxAttempts: 3 });
  assert.equal(p.checkDelayMs, 200);
  assert.equal(p.checkMaxAttempts, 3);
  assert.equal(p.checkTimeoutMs, 10_000);
  // 200 + 400 + 800 ms of delays plus three 10 s timeouts.
  assert.equal(checkSpanMs(p), 1400 + 30_000);
});

test('durations travel as Go duration strings', () => {
  assert.equal(goDuration(1500), '1500ms');
  assert.equal(parseGoDuration('1m30s'), 90_000);
  assert.equal(parseGoDuration('250ms'), 250);
  assert.equal(parseGoDuration('1.5s'), 1500);
  assert.throws(() => parseGoDuration('soon'));
});
