// Charts over GET /api/v1/stats buckets, drawn with the vendored uPlot
// (/assets/vendor/uplot, loaded by the page as a classic script that defines
// window.uPlot). uPlot draws on a canvas and styles its elements through the CSSOM, so
// it runs under the console's CSP. Buckets are put on a regular time grid (empty slots
// are zero violations and "no faces seen", a gap in the compliance line).

export const BUCKET_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
const observers = new WeakMap();
const PALETTE = ["#0b6bcb", "#b3261e", "#1e6b34", "#8e44ad", "#b06000", "#00838f", "#5d4037", "#c2185b"];

/** The time grid from `since` to `until` in steps of `bucket`, as Unix ms. */
export function grid(since, until, bucket) {
  const size = BUCKET_MS[bucket];
  const first = Math.floor(since / size) * size;
  const xs = [];
  for (let t = first; t <= until; t += size) xs.push(t);
  return xs;
}

/** Index of `start` in the grid `xs` of step `size`, or -1. */
function slot(xs, size, start) {
  if (!xs.length) return -1;
  const i = Math.floor((start - xs[0]) / size);
  return i >= 0 && i < xs.length ? i : -1;
}

/** Per camera: compliance (0..100 or null) on the grid. `names` maps ids to names. */
export function complianceByCamera(buckets, xs, bucket, names) {
  const size = BUCKET_MS[bucket];
  const byCamera = new Map();
  for (const b of buckets) {
    const key = b.camera_id ?? "";
    if (!byCamera.has(key)) byCamera.set(key, { mask: new Array(xs.length).fill(0), faces: new Array(xs.length).fill(0) });
    const i = slot(xs, size, b.start);
    if (i < 0) continue;
    const row = byCamera.get(key);
    row.mask[i] += b.mask || 0;
    row.faces[i] += (b.mask || 0) + (b.no_mask || 0);
  }
  return [...byCamera.entries()].map(([id, row], n) => ({
    label: id ? names.get(id) || id : "All cameras",
    colour: PALETTE[n % PALETTE.length],
    values: row.faces.map((f, i) => (f > 0 ? (100 * row.mask[i]) / f : null)),
  }));
}

/** Violations summed over cameras, on the grid. */
export function violationsOnGrid(buckets, xs, bucket) {
  const size = BUCKET_MS[bucket];
  const values = new Array(xs.length).fill(0);
  for (const b of buckets) {
    const i = slot(xs, size, b.start);
    if (i >= 0) values[i] += b.violations || 0;
  }
  return values;
}

/** Compliance over all cameras, on the grid (0..100 or null). */
export function complianceOnGrid(buckets, xs, bucket) {
  const [all] = complianceByCamera(
    buckets.map((b) => ({ ...b, camera_id: null })),
    xs,
    bucket,
    new Map(),
  );
  return all ? all.values : xs.map(() => null);
}

/**
 * Draws a chart in `target` (emptied first): `xs` in Unix ms; `series` of
 * `{label, values, colour, kind: "line"|"bars", scale: "pct"|"count"}`.
 * Returns the uPlot instance, or null with a sentence when uPlot is missing.
 */
export function chart(target, xs, series) {
  target.replaceChildren();
  const uPlot = window.uPlot;
  if (typeof uPlot !== "function") {
    target.textContent = "The chart library did not load.";
    return null;
  }
  const scales = { x: { time: true } };
  // Bars are centred on their bucket: half a bucket of room at each end keeps the first
  // and last whole.
  const step = xs.length > 1 ? (xs[1] - xs[0]) / 1000 : 60;
  if (series.some((s) => s.kind === "bars")) {
    scales.x.range = (_u, min, max) => [min - step / 2, max + step / 2];
  }
  const axes = [{}];
  if (series.some((s) => s.scale === "pct")) {
    scales.pct = { range: [0, 100] };
    axes.push({ scale: "pct", values: (_u, ticks) => ticks.map((v) => `${v}%`), size: 50 });
  }
  if (series.some((s) => s.scale === "count")) {
    scales.count = { range: (_u, _min, max) => [0, Math.max(1, Math.ceil(max * 1.15))] };
    axes.push({
      scale: "count",
      side: axes.length > 1 ? 1 : 3,
      grid: { show: axes.length === 1 },
      values: (_u, ticks) => ticks.map((v) => (Number.isInteger(v) ? String(v) : "")),
      size: 40,
    });
  }
  const opts = {
    width: Math.max(280, target.clientWidth || 600),
    height: 260,
    scales,
    axes,
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
    series: [
      {},
      ...series.map((s) => ({
        label: s.label,
        scale: s.scale,
        stroke: s.colour,
        width: 2,
        spanGaps: false,
        fill: s.kind === "bars" ? `${s.colour}99` : undefined,
        paths: s.kind === "bars" ? uPlot.paths.bars({ size: [0.6, 40] }) : undefined,
        points: { show: s.kind !== "bars" },
        value: (_u, v) => (v == null ? "–" : s.scale === "pct" ? `${Math.round(v)}%` : String(v)),
      })),
    ],
  };
  const data = [xs.map((t) => t / 1000), ...series.map((s) => s.values)];
  const plot = new uPlot(opts, data, target);
  observers.get(target)?.disconnect();
  if (typeof ResizeObserver === "function") {
    const observer = new ResizeObserver(() => {
      const width = Math.max(280, target.clientWidth);
      if (width !== plot.width) plot.setSize({ width, height: 260 });
    });
    observer.observe(target);
    observers.set(target, observer);
  }
  target.dataset.points = String(xs.length);
  return plot;
}

/** A violation colour for bar series. */
export const VIOLATION_COLOUR = "#d93025";
