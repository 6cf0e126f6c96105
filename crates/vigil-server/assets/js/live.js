// The live wall: one tile per enabled camera with its annotated feed, state badge and
// what it sees now, kept current from the event stream (camera.state, camera.detections,
// violation.created). A browser opens only a few connections per server over HTTP/1.1,
// and every MJPEG feed holds one open, so with more than MAX_STREAMS cameras the tiles
// show a snapshot refreshed every few seconds instead. Feeds stop while the page is
// hidden, so a forgotten tab costs the server nothing.
import { api, ApiFailure } from "./console.js";
import { el, listCameras, onEvents, say, setBadge, timeEl } from "./ui.js";

const MAX_STREAMS = 4;
const SNAPSHOT_EVERY_MS = 3000;
const wall = document.getElementById("wall");
const tiles = new Map();
let cameras = [];
let snapshots = false;
let snapshotTimer = null;

function live(camera) {
  const state = camera.status?.state;
  return state === "online" || state === "starting";
}

function feedUrl(t) {
  const id = encodeURIComponent(t.camera.id);
  return snapshots || t.snapshot ? `/api/v1/cameras/${id}/snapshot.jpg?t=${Date.now()}` : `/api/v1/cameras/${id}/stream`;
}

function tile(camera) {
  const img = el("img", { alt: `Live picture of ${camera.name}`, className: "feed-img", hidden: true });
  const off = el("p", { className: "feed-off" });
  const state = el("span");
  const now = el("p", { className: "now hint", "aria-live": "off" });
  const item = el(
    "li",
    { className: "wall-tile", dataset: { camera: camera.id } },
    el(
      "a",
      { href: `/cameras/${encodeURIComponent(camera.id)}`, className: "wall-link" },
      el("div", { className: "wall-picture" }, img, off),
      el("div", { className: "wall-caption" }, el("strong", { text: camera.name }), state),
    ),
    now,
  );
  const t = { camera, item, img, off, state, now, snapshot: false };
  // A feed the server refuses (it caps the viewers per camera) falls back to snapshots.
  img.addEventListener("error", () => {
    if (!t.snapshot && img.getAttribute("src")?.endsWith("/stream")) t.snapshot = true;
  });
  tiles.set(camera.id, t);
  refresh(t);
  return item;
}

/** Shows the feed when the camera runs, else why not. */
function refresh(t) {
  const status = t.camera.status || {};
  setBadge(t.state, status.state);
  if (live(t.camera) && !document.hidden) {
    if (t.img.hidden || !t.img.getAttribute("src")) t.img.src = feedUrl(t);
    t.img.hidden = false;
    t.off.hidden = true;
  } else {
    // Removing the source closes the stream's connection.
    t.img.removeAttribute("src");
    t.img.hidden = true;
    t.off.hidden = false;
    t.off.textContent = document.hidden
      ? "Paused while the page is hidden."
      : status.state === "offline"
        ? `Offline: ${status.error || "no picture."}`
        : "Stopped.";
  }
}

async function load() {
  try {
    const all = await listCameras(api, ApiFailure, () =>
      say("wall-status", "This server has no camera support yet.", "error"),
    );
    cameras = all.filter((c) => c.enabled !== false);
  } catch (err) {
    say("wall-status", err.message || String(err), "error");
    return;
  }
  snapshots = cameras.length > MAX_STREAMS;
  tiles.clear();
  wall.replaceChildren(...cameras.map(tile));
  if (!cameras.length) say("wall-status", "No cameras are turned on. Add one on the Cameras page.");
  else say("wall-status", snapshots ? "Pictures refresh every few seconds." : "");
  clearInterval(snapshotTimer);
  snapshotTimer = setInterval(() => {
    if (document.hidden) return;
    for (const t of tiles.values()) {
      if (live(t.camera) && (snapshots || t.snapshot)) t.img.src = feedUrl(t);
    }
  }, SNAPSHOT_EVERY_MS);
}

function describe(faces) {
  if (!faces.length) return "Nobody in the picture.";
  const bare = faces.filter((f) => f.label === "no_mask").length;
  const n = faces.length;
  return `${n} face${n === 1 ? "" : "s"}${bare ? `, ${bare} without a mask` : ", all masked"}.`;
}

onEvents(
  "camera.,violation.created",
  (type, payload) => {
    if (type === "camera.state") {
      const t = tiles.get(payload.camera_id);
      if (!t) return;
      t.camera.status = { ...(t.camera.status || {}), state: payload.state, error: payload.error, since: payload.since };
      t.img.removeAttribute("src");
      refresh(t);
    } else if (type === "camera.detections") {
      const t = tiles.get(payload.camera_id);
      if (t) t.now.textContent = describe(payload.faces || []);
    } else if (type === "violation.created") {
      const v = payload.violation;
      const t = v && tiles.get(v.camera_id);
      if (!t) return;
      t.item.classList.add("alert");
      t.now.replaceChildren("Someone without a mask at ", timeEl(v.at, false), ".");
      setTimeout(() => t.item.classList.remove("alert"), 5000);
    } else if (type === "camera.created" || type === "camera.updated" || type === "camera.deleted") {
      load();
    }
  },
  (open) => {
    if (!open) say("wall-status", "The live connection to the server dropped; reconnecting…", "error");
    else if (document.getElementById("wall-status").classList.contains("error") && cameras.length) say("wall-status", "");
  },
);

document.addEventListener("visibilitychange", () => {
  for (const t of tiles.values()) refresh(t);
});

load();
