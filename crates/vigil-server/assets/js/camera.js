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
