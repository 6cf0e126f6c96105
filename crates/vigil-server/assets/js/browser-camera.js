// The browser camera: this browser's camera as a Vigil camera. getUserMedia gives a local
// <video> (1280×720 ideally, at the frame rate in data-frame-rate); at the camera's
// detect fps a frame is scaled to the detect width, encoded as JPEG and sent as one binary
// message over /api/v1/cameras/{id}/ws, one frame in flight at a time (the next is sent
// only after the reply, or after a reply is long overdue). The replies' faces are drawn
// over the video. Known failures are said in plain words; a lost connection reconnects
// with back-off (1 s doubling to 30 s) while saying so; the camera is released when the
// page is hidden or left, and started again when it comes back.
import { api, ApiFailure } from "./console.js";
import { WORDS, drawFaces, labelOf } from "./draw.js";
import { cameraProblem, canCapture, say, stopStream } from "./ui.js";

const root = document.getElementById("browser-camera");
const cameraId = root.dataset.cameraId;
const frameRate = Number(root.dataset.frameRate) || 24;
const video = document.getElementById("bc-video");
const overlay = document.getElementById("bc-overlay");
const message = document.getElementById("bc-message");
const retry = document.getElementById("bc-retry");

/** A reply older than this no longer describes the picture: its boxes are cleared. */
const STALE_MS = 2000;
/** A frame unanswered for this long is given up on, and the next one sent. */
const OVERDUE_MS = 5000;
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30000;

let stream = null;
let ws = null;
let running = false;
let detectFps = 5;
let detectWidth = 640;
let inFlight = false;
let sentAt = 0;
let tick = null;
let reconnectTimer = null;
let backoff = BACKOFF_FIRST_MS;
let serverSaid = "";
let last = null;
let violations = 0;
const grab = document.createElement("canvas");

function problem(kind, text, button = "Try again") {
  root.dataset.state = kind;
  document.getElementById("bc-message-text").textContent = text;
  retry.textContent = button;
  message.hidden = false;
}

function clearProblem() {
  message.hidden = true;
}

/** Reads the camera's name and settings; false when the page cannot go on. */
async function readCamera() {
  try {
    const camera = await api("GET", `/api/v1/cameras/${encodeURIComponent(cameraId)}`);
    document.getElementById("bc-name").textContent = camera.name || cameraId;
    if (typeof camera.detect_fps === "number" && camera.detect_fps > 0) detectFps = camera.detect_fps;
    if (typeof camera.detect_width === "number" && camera.detect_width > 0) detectWidth = camera.detect_width;
    if (camera.kind && camera.kind !== "browser") {
      problem("wrong-kind", `“${camera.name}” reads its pictures from ${camera.kind}, not from a browser. Add a camera whose source is “a browser's camera” on the Cameras page.`, "Check again");
      return false;
    }
    if (camera.enabled === false) {
      problem("disabled", `“${camera.name}” is turned off. An operator can enable it on the Cameras page.`, "Check again");
      return false;
    }
    return true;
  } catch (err) {
    if (err instanceof ApiFailure && err.status === 404) {
      problem("missing", "This camera does not exist (any more). Add a browser camera on the Cameras page.", "Check again");
      return false;
    }
    // Anything else (the network, a restart): try with the defaults; the socket will say.
    return true;
  }
}

async function start() {
  if (running) return;
  running = true;
  clearProblem();
  root.dataset.state = "starting";
  say("bc-status", "Starting the camera…");
  if (!canCapture()) {
    running = false;
    problem(window.isSecureContext ? "unsupported" : "insecure", cameraProblem(null));
    say("bc-status", "");
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: {
        width: { ideal: 1280 },
        height: { ideal: 720 },
        frameRate: { ideal: frameRate, max: 30 },
      },
      audio: false,
    });
  } catch (err) {
    running = false;
    problem(err?.name === "NotAllowedError" ? "denied" : "camera", cameraProblem(err));
    say("bc-status", "");
    return;
  }
  // The camera first (its refusal is what a person must act on), then which Vigil
  // camera this is; the page may have been hidden meanwhile.
  const usable = running && (await readCamera());
  if (!running || !usable) {
    running = false;
    stopStream(stream);
    stream = null;
    if (!usable) say("bc-status", "");
    return;
  }
  video.srcObject = stream;
  video.play().catch(() => {});
  // Whether this page holds the camera now (for people reading the DOM, and for tests).
  root.dataset.camera = "on";
  connect();
}

function stop(why) {
  running = false;
  clearInterval(tick);
  clearTimeout(reconnectTimer);
  tick = null;
  reconnectTimer = null;
  stopStream(stream);
  stream = null;
  video.srcObject = null;
  root.dataset.camera = "off";
  if (ws) {
    const socket = ws;
    ws = null;
    socket.onclose = null;
    socket.close(1000, "page hidden");
  }
  inFlight = false;
  last = null;
  paint();
  root.dataset.state = "paused";
  if (why) say("bc-status", why);
}

function connect() {
  clearTimeout(reconnectTimer);
  reconnectTimer = null;
  if (!running) return;
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${window.location.host}/api/v1/cameras/${encodeURIComponent(cameraId)}/ws`);
  ws = socket;
  serverSaid = "";
  socket.onopen = () => {
    backoff = BACKOFF_FIRST_MS;
    clearProblem();
    root.dataset.state = "live";
    say("bc-status", "Connected: sending pictures to Vigil.", "ok");
    schedule();
  };
  socket.onmessage = (event) => {
    if (typeof event.data !== "string") return;
    let reply;
    try {
      reply = JSON.parse(event.data);
    } catch {
      return;
    }
    onReply(reply);
  };
  socket.onclose = () => {
    if (ws !== socket) return;
    ws = null;
    inFlight = false;
    clearInterval(tick);
    tick = null;
    // Boxes without answers behind them would mislead.
    last = null;
    paint();
    if (!running) return;
    const seconds = Math.round(backoff / 1000);
    const said = serverSaid ? ` Vigil said: ${serverSaid}` : "";
    problem("network", `The connection to Vigil was lost.${said} Reconnecting in ${seconds} s…`, "Reconnect now");
    say("bc-status", "");
    reconnectTimer = setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
  };
}

function onReply(reply) {
  switch (reply.type) {
    case "hello":
      if (typeof reply.detect_fps === "number" && reply.detect_fps > 0) detectFps = reply.detect_fps;
      if (typeof reply.width === "number" && reply.width > 0) detectWidth = reply.width;
      schedule();
      break;
    case "result": {
      const took = performance.now() - sentAt;
      inFlight = false;
      // A frame the camera had no room for: nothing new to draw. A frame skipped for lack
      // of motion still carries the last known boxes (and the frame's size).
      if (reply.skipped && !reply.width) break;
      last = { faces: reply.faces || [], width: reply.width, height: reply.height, at: performance.now() };
      if (reply.violation) violations += 1;
      paint();
      summary(took);
      break;
    }
    case "error":
      serverSaid = String(reply.message || "");
      say("bc-status", `Vigil said: ${serverSaid}`, "error");
      break;
    default:
      break;
  }
}

function schedule() {
  clearInterval(tick);
  tick = setInterval(sendFrame, Math.max(33, 1000 / detectFps));
}

function sendFrame() {
  if (last && performance.now() - last.at > STALE_MS) {
    last = null;
    paint();
  }
  if (!ws || ws.readyState !== WebSocket.OPEN || !video.videoWidth) return;
  if (inFlight && performance.now() - sentAt < OVERDUE_MS) return;
  const width = Math.min(detectWidth, video.videoWidth);
  grab.width = width;
  grab.height = Math.round((video.videoHeight * width) / video.videoWidth);
  grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
  inFlight = true;
  sentAt = performance.now();
  const socket = ws;
  grab.toBlob(
    (blob) => {
      if (blob && socket.readyState === WebSocket.OPEN) socket.send(blob);
      else inFlight = false;
    },
    "image/jpeg",
    0.85,
  );
}

/** Draws the last reply's faces over the video, at the video's size on screen. */
function paint() {
  const ratio = window.devicePixelRatio || 1;
  const w = Math.round(video.clientWidth * ratio);
  const h = Math.round(video.clientHeight * ratio);
  if (overlay.width !== w || overlay.height !== h) {
    overlay.width = w;
    overlay.height = h;
  }
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  const faces = last?.faces || [];
  overlay.dataset.faces = String(faces.length);
  if (!faces.length || !last.width || !last.height) return;
  drawFaces(ctx, faces, w / last.width, h / last.height);
}

function summary(took) {
  const faces = last?.faces || [];
  const bare = faces.filter((f) => labelOf(f) === "no_mask").length;
  const parts = [`${detectFps} pictures a second; the last answer took ${Math.round(took)} ms.`];
  parts.push(
    faces.length
      ? `${faces.length} face${faces.length === 1 ? "" : "s"}: ${faces.map((f) => WORDS[labelOf(f)]).join(", ")}.`
      : "No face in the picture.",
  );
  if (bare) parts.push("Someone is not wearing a mask.");
  if (violations) parts.push(`${violations} violation${violations === 1 ? "" : "s"} recorded from this page.`);
  document.getElementById("bc-summary").textContent = parts.join(" ");
}

retry.addEventListener("click", () => {
  if (root.dataset.state === "network") {
    backoff = BACKOFF_FIRST_MS;
    connect();
  } else {
    stop();
    start();
  }
});

// Release the camera whenever the page is hidden or left; start again on return.
document.addEventListener("visibilitychange", () => {
  if (document.hidden) stop("Paused while the page is hidden: the camera is off.");
  else start();
});
window.addEventListener("pagehide", () => stop());
window.addEventListener("pageshow", (event) => {
  if (event.persisted && !document.hidden) start();
});
window.addEventListener("resize", paint);

if (!document.hidden) start();
