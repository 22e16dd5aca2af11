// Window counter series on a common time grid. The server answers a series from the start of the
// key's own first bucket and sums whole buckets into the step that holds their start, so two keys
// with other bucket widths (or a bucket wider than the step asked) do not line up point by point.

/**
 * Per-second rates on `grid` (step starts, ms, `gridStep` apart) from a series answer
 * (`points` of `{ t, stats: { sum } }`, `step_ms`, `bucket_ms`): each point's sum is spread
 * evenly over the seconds it covers (a 60-s bucket draws as its average rate, not as one spike),
 * and a point that ends after `end` (still filling) is left out (null), as are grid steps no
 * point covers.
 */
export function ratesOnGrid(answer, grid, gridStep, end) {
  const width = Math.max(answer.step_ms, answer.bucket_ms, gridStep);
  const out = grid.map(() => null);
  for (const p of answer.points) {
    if (p.t + width > end) continue;
    const rate = p.stats.sum / (width / 1000);
    for (let i = 0; i < grid.length; i++) {
      if (grid[i] >= p.t && grid[i] < p.t + width) out[i] = rate;
    }
  }
  return out;
}

/**
 * Pairs two series by time: for each point of `requests`, the sum of the `errors` points whose
 * start falls in it. Both answers must have been asked with the same step, at least either
 * key's bucket (see `commonStep`); `[t, requests, errors]` per request point.
 */
export function pairByTime(requests, errors) {
  const width = Math.max(requests.step_ms, requests.bucket_ms);
  return requests.points.map((p) => {
    let errs = 0;
    for (const e of errors.points) {
      if (e.t >= p.t && e.t < p.t + width) errs += e.stats.sum;
    }
    return [p.t, p.stats.sum, errs];
  });
}

/** The step two keys' series can be compared at: `wanted`, or the wider of their buckets. */
export function commonStep(wanted, ...bucketMs) {
  return Math.max(wanted, ...bucketMs);
}
