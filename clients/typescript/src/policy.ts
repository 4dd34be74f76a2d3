// A message's timing, as client/policy.go. Durations are milliseconds here
// (JavaScript has no duration type); the client sends them to the gateway
// as Go duration strings ("1500ms"), which the API parses.

/** A message's own timing; absent fields keep the gateway's default. */
export interface Policy {
  checkDelayMs?: number;
  checkBackoff?: number;
  checkMaxDelayMs?: number;
  checkMaxAttempts?: number;
  checkTimeoutMs?: number;
  resendIntervalsMs?: number[];
  publishMaxIntervalMs?: number;
}

/** A Policy with every field set. */
export type FullPolicy = Required<Policy>;

const second = 1000;
const minute = 60 * second;

/**
 * The timing of a gateway whose defaults were not changed: first check-back
 * after 30 s, doubling up to 5 min, 15 check-backs of at most 10 s each;
 * resends after 1, 2, 5, 15, 30 and 60 minutes. It is the Go client's
 * client.DefaultPolicy (the test policy.test.ts ties the numbers to it).
 */
export function defaultPolicy(): FullPolicy {
  return {
    checkDelayMs: 30 * second,
    checkBackoff: 2,
    checkMaxDelayMs: 5 * minute,
    checkMaxAttempts: 15,
    checkTimeoutMs: 10 * second,
    resendIntervalsMs: [1, 2, 5, 15, 30, 60].map((m) => m * minute),
    publishMaxIntervalMs: minute,
  };
}

/** p over defaultPolicy: the timing a message with policy p has on a gateway with the default timing. */
export function over(p: Policy | undefined): FullPolicy {
  const d = defaultPolicy();
  if (p === undefined) return d;
  return {
    checkDelayMs: p.checkDelayMs || d.checkDelayMs,
    checkBackoff: p.checkBackoff || d.checkBackoff,
    checkMaxDelayMs: p.checkMaxDelayMs || d.checkMaxDelayMs,
    checkMaxAttempts: p.checkMaxAttempts || d.checkMaxAttempts,
    checkTimeoutMs: p.checkTimeoutMs || d.checkTimeoutMs,
    resendIntervalsMs: p.resendIntervalsMs && p.resendIntervalsMs.length > 0 ? [...p.resendIntervalsMs] : d.resendIntervalsMs,
    publishMaxIntervalMs: p.publishMaxIntervalMs || d.publishMaxIntervalMs,
  };
}

/**
 * How long after prepare the last check-back of a message with timing p can
 * still be answered: every wait between check-backs (the delay grows by
 * checkBackoff up to checkMaxDelay, as the workflow computes it) plus every
 * check-back taking its whole checkTimeout. Barrier rows must outlast it.
 */
export function checkSpanMs(p: FullPolicy): number {
  let span = 0;
  let delay = p.checkDelayMs;
  for (let i = 0; i < p.checkMaxAttempts; i++) {
    span += delay + p.checkTimeoutMs;
    // Go multiplies a time.Duration (integer nanoseconds) by a float and
    // truncates; whole milliseconds times 2 stay exact either way.
    delay = Math.min(Math.trunc(delay * p.checkBackoff), p.checkMaxDelayMs);
  }
  return span;
}

/** How long after its first send a message with timing p is still re-sent. */
export function resendSpanMs(p: FullPolicy): number {
  return p.resendIntervalsMs.reduce((a, b) => a + b, 0);
}

/** ms as a Go duration string, the API's format. */
export function goDuration(ms: number): string {
  return `${Math.round(ms)}ms`;
}

/** Parses a Go duration string ("1.5s", "250ms", "1m30s") into milliseconds. */
export function parseGoDuration(s: string): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: second, m: minute, h: 60 * minute };
  const re = /([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    total += Number(m[1]) * (units[m[2] as string] as number);
    matched = re.lastIndex;
  }
  if (s === '0') return 0;
  if (matched !== s.length || s.length === 0) throw new Error(`invalid duration ${JSON.stringify(s)}`);
  return total;
}
