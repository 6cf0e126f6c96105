// A camera's page: its annotated feed (the MJPEG stream while it runs), its state badge,
// today's numbers and a chart of compliance and violations per hour from
// /api/v1/stats, and its latest violations as face snapshots; live from the event stream.
import { api, ApiFailure } from "./console.js";
import { chart, complianceOnGrid, grid, violationsOnGrid, VIOLATION_COLOUR } from "./charts.js";
import { count, el, onEvents, pct, say, setBadge, startOfToday, violationThumb } from "./ui.js";

const root = document.getElementById("camera");
const id = root.dataset.cameraId;
const path = `/api/v1/cameras/${encodeURIComponent(id)}`;
const feed = document.getElementById("camera-feed");
const feedOff = document.getElementById("camera-feed-off");
// The page's heading becomes the camera's name.
const heading = document.querySelector("#main > h1");
let camera = null;
// When the server refuses the stream (it caps the viewers per camera), the feed shows a
// snapshot refreshed every few seconds instead.
let snapshotTimer = null;
feed.addEventListener("error", () => {
  if (snapshotTimer || !feed.getAttribute("src")?.endsWith("/stream")) return;
  snapshotTimer = setInterval(() => {
    if (!feed.hidden && !document.hidden) feed.src = `${path}/snapshot.jpg?t=${Date.now()}`;
  }, 3000);
});

/** The camera's zones (where violations count) drawn over its feed, and named below it. */
function drawZones() {
  const canvas = document.getElementById("camera-zones");
  const zones = Array.isArray(camera?.zones) ? camera.zones : [];
  canvas.dataset.zones = String(zones.length);
  document.getElementById("camera-zones-list").textContent = zones.length
    ? `Violations count only inside: ${zones.map((z) => z.name).join(", ")} (outlined in yellow).`
    : "";
  canvas.hidden = !zones.length || feed.hidden || !feed.clientWidth;
  if (canvas.hidden) return;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(feed.clientWidth * ratio);
  canvas.height = Math.round(feed.clientHeight * ratio);
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.lineWidth = 2 * ratio;
  ctx.font = `600 ${Math.round(13 * ratio)}px system-ui, sans-serif`;
  for (const zone of zones) {
    const points = (zone.points || []).map(([x, y]) => [x * canvas.width, y * canvas.height]);
    if (points.length < 3) continue;
    ctx.beginPath();
    points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.closePath();
    ctx.fillStyle = "rgba(244, 180, 0, 0.15)";
    ctx.fill();
    ctx.setLineDash([8 * ratio, 5 * ratio]);
    ctx.strokeStyle = "#f4b400";
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = "#f4b400";
    ctx.fillText(zone.name, points[0][0] + 4 * ratio, points[0][1] + 16 * ratio);
  }
}
if (typeof ResizeObserver === "function") new ResizeObserver(drawZones).observe(feed);

function showState() {
  const status = camera.status || {};
  setBadge(document.getElementById("camera-state"), status.state);
  document.getElementById("camera-error").textContent = status.error || "";
  const running = status.state === "online" || status.state === "starting";
  const start = document.getElementById("camera-start");
  const stop = document.getElementById("camera-stop");
  if (start) start.hidden = running;
  if (stop) stop.hidden = !running;
  if (running && !document.hidden) {
    if (feed.hidden) feed.src = `${path}/stream`;
    feed.hidden = false;
    feedOff.hidden = true;
  } else {
    feed.removeAttribute("src");
    feed.hidden = true;
    feedOff.hidden = false;
    feedOff.textContent = document.hidden
      ? "Paused while the page is hidden."
      : status.state === "offline"
        ? `No picture: ${status.error || "the camera is offline."}`
        : "No picture: the camera is not running.";
  }
}

async function loadCamera() {
  try {
    camera = await api("GET", path);
  } catch (err) {
    const missing = err instanceof ApiFailure && err.status === 404;
    say("camera-status", missing ? "There is no such camera (it may have been deleted)." : err.message, "error");
    heading.textContent = missing ? "Unknown camera" : id;
    return false;
  }
  heading.textContent = camera.name;
  document.title = `${camera.name} · Vigil`;
  document.getElementById("camera-snapshot").href = `${path}/snapshot.jpg`;
  document.getElementById("camera-browser-link").hidden = camera.kind !== "browser" || root.dataset.canOperate !== "true";
  showState();
  drawZones();
  return true;
}

async function loadToday() {
  const since = startOfToday();
  const until = Date.now();
  const q = new URLSearchParams({ camera: id, bucket: "hour", since: String(since), until: String(until) });
  let stats;
  try {
    stats = await api("GET", `/api/v1/stats?${q}`);
  } catch (err) {
    document.getElementById("camera-chart").textContent = `No numbers: ${err.message}`;
    return;
  }
  const totals = stats.totals || {};
  document.getElementById("today-compliance").textContent = pct(totals.compliance);
  document.getElementById("today-faces").textContent = count(totals.faces);
  document.getElementById("today-violations").textContent = count(totals.violations);
  const buckets = stats.buckets || [];
  const xs = grid(since, until, "hour");
  chart(document.getElementById("camera-chart"), xs, [
    { label: "Wore a mask", values: complianceOnGrid(buckets, xs, "hour"), colour: "#1e6b34", kind: "line", scale: "pct" },
    { label: "Violations", values: violationsOnGrid(buckets, xs, "hour"), colour: VIOLATION_COLOUR, kind: "bars", scale: "count" },
  ]);
}

async function loadViolations() {
  const list = document.getElementById("camera-violations");
  try {
    const data = await api("GET", `/api/v1/violations?${new URLSearchParams({ camera: id, limit: "12" })}`);
    const items = data.items || [];
    list.replaceChildren(...items.map(violationThumb));
    if (!items.length) list.replaceChildren(el("li", { className: "hint", text: "None: everyone seen wore a mask." }));
  } catch (err) {
    list.replaceChildren(el("li", { className: "error", text: err.message }));
  }
}

if (await loadCamera()) {
  loadToday();
  loadViolations();
  let refresh = null;
  onEvents("camera.state,violation.", (type, payload) => {
    if (type === "camera.state" && payload.camera_id === id) {
      camera.status = { ...(camera.status || {}), state: payload.state, error: payload.error, since: payload.since };
      feed.hidden = true;
      showState();
    } else if (type.startsWith("violation.")) {
      const v = payload.violation;
      if (type === "violation.deleted" || v?.camera_id === id) {
        // Several events in a burst make one reload.
        clearTimeout(refresh);
        refresh = setTimeout(() => {
          loadViolations();
          loadToday();
        }, 500);
      }
    }
  });
  document.addEventListener("visibilitychange", () => {
    feed.hidden = true;
    showState();
  });
}
