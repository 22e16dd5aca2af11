// Percentiles of what arrived between two snapshots of one cumulative quantiles sketch.
//
// The server keeps one sketch per key, holding every value since the start; a chart of its
// percentiles over time would barely move. Both snapshots bin values on the same boundaries (same
// alpha), so the count of new values up to v is `next.rank(v)·n₂ − prev.rank(v)·n₁`, and a
// bisection on v finds where that count passes q·(added − 1), the rank a sketch of the new values
// alone would look for: the interval's q-quantile, with the sketch's relative error. No DOM here,
// so Node tests it too.
//
// The count jumps where v enters a bin: for a positive bin (γ^(i-1), γ^i] at γ^(i-1), and the
// bin's value, the one a sketch reports, is 2γ^i/(γ+1) = (1+α)·γ^(i-1) with γ = (1+α)/(1-α); a
// negative bin is entered at its far end −γ^i, and its value is −2γ^i/(γ+1) = (1−α)·(−γ^i). So the
// crossing found is scaled by 1+α (positive) or 1−α (negative), and kept within [min, max].

const STEPS = 64;

/**
 * The `qs` quantiles of the values added between `prev` and `next` (package `Quantiles` objects;
 * `prev` may be null: then all of `next`; `alpha` is their relative accuracy). Null when nothing
 * new arrived or `next` does not extend `prev` (fewer values: a restart or another key).
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
  // New values up to v.
  const below = (v) => (next.rank(v) ?? 0) * n2 - (prev.rank(v) ?? 0) * n1;
  const value = (crossing) => {
    const v = crossing > 0 ? crossing * (1 + alpha) : crossing * (1 - alpha);
    return Math.min(hi, Math.max(lo, v));
  };
  const logScale = lo > 0;
  const toScale = logScale ? Math.log : (v) => v;
  const fromScale = logScale ? Math.exp : (v) => v;
  return qs.map((q) => {
    const target = q * (added - 1);
    let a = toScale(lo);
    let b = toScale(hi);
    if (below(lo) > target) return lo;
    if (below(hi) <= target) return hi;
    for (let i = 0; i < STEPS && b - a > 1e-12 * Math.max(1, Math.abs(b)); i++) {
      const mid = (a + b) / 2;
      if (below(fromScale(mid)) > target) b = mid;
      else a = mid;
    }
    return value(fromScale(b));
  });
}
