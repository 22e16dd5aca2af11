// Percentiles of what arrived between two snapshots of one cumulative quantiles sketch.
//
// The server keeps one sketch per key, holding every value since the start; a chart of its
// percentiles over time would barely move. Both snapshots bin values on the same boundaries (same
// alpha), so the count of new values below v is `next.rank(v)·n₂ − prev.rank(v)·n₁`, and a
// bisection on v finds where that count crosses q·(n₂ − n₁): the interval's q-quantile, with the
// sketch's relative error. No DOM here, so Node tests it too.
//
// The count of new values jumps at a bin's lower boundary γ^(i-1); the bin's value, the one a
// sketch reports, is 2γ^i/(γ+1) = (1+α)·γ^(i-1) with γ = (1+α)/(1-α), so the crossing found is
// scaled by 1+α (for positive values: the log-spaced bins).

const STEPS = 64;

/**
 * The `qs` quantiles of the values added between `prev` and `next` (package `Quantiles` objects;
 * `prev` may be null: then all of `next`; `alpha` is their relative accuracy). Null when nothing new arrived or `next` does not extend
 * `prev` (fewer values: a restart or another key).
 */
export function intervalQuantiles(prev, next, qs, alpha) {
  const n2 = Number(next.count);
  const n1 = prev ? Number(prev.count) : 0;
  const added = n2 - n1;
  if (added <= 0) return null;
  if (n1 === 0) return Array.from(next.quantiles(qs));
  const lo = next.min;
  const hi = next.max;
  if (lo === undefined || hi === undefined) return null;
  // New values below v.
  const below = (v) => (next.rank(v) ?? 0) * n2 - (prev.rank(v) ?? 0) * n1;
  const logScale = lo > 0;
  const toScale = logScale ? Math.log : (v) => v;
  const fromScale = logScale ? Math.exp : (v) => v;
  return qs.map((q) => {
    const target = q * added;
    let a = toScale(lo);
    let b = toScale(hi);
    if (below(hi) <= target) return hi;
    for (let i = 0; i < STEPS && b - a > 1e-12 * Math.max(1, Math.abs(b)); i++) {
      const mid = (a + b) / 2;
      if (below(fromScale(mid)) > target) b = mid;
      else a = mid;
    }
    return logScale ? Math.min(hi, fromScale(b) * (1 + alpha)) : fromScale(b);
  });
}
