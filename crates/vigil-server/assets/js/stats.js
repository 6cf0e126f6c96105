// The statistics page: for the chosen period and camera, GET /api/v1/stats gives buckets
// per camera; the page draws compliance over time (one line per camera) and violations
// per bucket (bars, all cameras together), with the totals as large numbers.
import { api, ApiFailure } from "./console.js";
import { chart, complianceByCamera, grid, violationsOnGrid, VIOLATION_COLOUR } from "./charts.js";
import { count, el, listCameras, pct, say, startOfToday } from "./ui.js";

const params = new URLSearchParams(window.location.search);
const RANGES = {
  hour: { bucket: "minute", since: () => Date.now() - 3_600_000, words: "per minute" },
  today: { bucket: "hour", since: startOfToday, words: "per hour" },
  week: { bucket: "day", since: () => Date.now() - 7 * 86_400_000, words: "per day" },
  month: { bucket: "day", since: () => Date.now() - 30 * 86_400_000, words: "per day" },
};

const rangeName = Object.hasOwn(RANGES, params.get("range")) ? params.get("range") : "today";
const range = RANGES[rangeName];
const camera = params.get("camera") || "";
document.getElementById("s-range").value = rangeName;

async function main() {
  let cameras = [];
  try {
    cameras = await listCameras(api, ApiFailure);
  } catch {
    // Names fall back to ids.
  }
  const select = document.getElementById("s-camera");
  for (const c of cameras) select.append(el("option", { value: c.id, text: c.name }));
  select.value = camera;
  const names = new Map(cameras.map((c) => [c.id, c.name]));

  const since = range.since();
  const until = Date.now();
  const q = new URLSearchParams({ bucket: range.bucket, since: String(since), until: String(until) });
  if (camera) q.set("camera", camera);
  let stats;
  try {
    stats = await api("GET", `/api/v1/stats?${q}`);
  } catch (err) {
    say("stats-status", err instanceof ApiFailure ? err.message : String(err), "error");
    return;
  }
  const totals = stats.totals || {};
  document.getElementById("t-compliance").textContent = pct(totals.compliance);
  document.getElementById("t-faces").textContent = count(totals.faces);
  document.getElementById("t-violations").textContent = count(totals.violations);
  document.getElementById("t-frames").textContent = count(totals.frames);
  const buckets = stats.buckets || [];
  say("stats-status", buckets.length ? "" : "Nothing was analysed in this period yet.");
  const xs = grid(since, until, range.bucket);
  const lines = complianceByCamera(buckets, xs, range.bucket, names).map((s) => ({ ...s, kind: "line", scale: "pct" }));
  chart(document.getElementById("chart-compliance"), xs, lines.length ? lines : [{ label: "Wore a mask", values: xs.map(() => null), colour: "#1e6b34", kind: "line", scale: "pct" }]);
  document.getElementById("violations-heading").textContent = `Violations ${range.words}`;
  chart(document.getElementById("chart-violations"), xs, [
    { label: "Violations", values: violationsOnGrid(buckets, xs, range.bucket), colour: VIOLATION_COLOUR, kind: "bars", scale: "count" },
  ]);
}

main();
