// The cameras page: the list from GET /api/v1/cameras as cards (state badge, source,
// settings; links to the camera's page and, for browser cameras, the page that sends
// this browser's camera), kept current from the event stream. Operators get a form to
// add a camera or edit one (PATCH with the changed fields; the URL only when it was
// retyped, since the API shows it redacted), a "test connection" button that says what
// POST /api/v1/cameras/test found, and start, stop and delete per camera.
import { api, ApiFailure } from "./console.js";
import { badge, el, listCameras, onEvents, say, setBadge } from "./ui.js";

const list = document.getElementById("camera-list");
const canOperate = list.dataset.canOperate === "true";
const form = document.getElementById("camera-form");
let cameras = [];
let editing = null;

const KIND_WORDS = {
  rtsp: "RTSP stream",
  rtsps: "RTSP stream (TLS)",
  http: "HTTP picture or MJPEG",
  https: "HTTPS picture or MJPEG",
  file: "video file",
  device: "video device",
  browser: "a browser's camera",
};

function card(camera) {
  const status = camera.status || {};
  const details = el(
    "p",
    { className: "hint" },
    `${KIND_WORDS[camera.kind] || camera.kind}${camera.url && camera.kind !== "browser" ? `: ${camera.url}` : ""}. `,
    `${camera.detect_fps} pictures a second analysed at ${camera.detect_width} px; a violation when ${Math.round((camera.confidence ?? 0) * 100)}% sure`,
    camera.motion_gating ? ", only when something moves." : ".",
    camera.enabled ? "" : " Turned off.",
  );
  const links = el(
    "p",
    { className: "links" },
    el("a", { href: `/cameras/${encodeURIComponent(camera.id)}`, text: "Open" }),
  );
  if (camera.kind === "browser" && canOperate) {
    links.append(" · ", el("a", { href: `/cameras/${encodeURIComponent(camera.id)}/browser`, text: "Send this browser's camera" }));
  }
  const item = el(
    "li",
    { className: "camera-card", dataset: { camera: camera.id }, "data-scope": true },
    el(
      "div",
      { className: "camera-card-head" },
      el("h2", { text: camera.name }),
      badge(status.state),
    ),
    status.error ? el("p", { className: "error camera-error", text: status.error }) : null,
    details,
    links,
  );
  if (canOperate) {
    const id = encodeURIComponent(camera.id);
    const running = status.state === "online" || status.state === "starting";
    item.append(
      el(
        "p",
        { className: "actions" },
        el("button", {
          type: "button",
          className: "secondary",
          "data-api": `/api/v1/cameras/${id}/${running ? "stop" : "start"}`,
          "data-method": "POST",
          "data-then": "reload",
          text: running ? "Stop" : "Start",
        }),
        el("button", { type: "button", className: "secondary", "data-edit": camera.id, text: "Edit" }),
        el("button", {
          type: "button",
          className: "danger",
          "data-api": `/api/v1/cameras/${id}`,
          "data-method": "DELETE",
          "data-then": "reload",
          "data-confirm": `Delete the camera “${camera.name}”? Its violations stay until their retention ends.`,
          text: "Delete",
        }),
      ),
      el("div", { className: "status", role: "status", "aria-live": "polite", "data-status": true }),
    );
  }
  return item;
}

function render() {
  list.replaceChildren(...cameras.map(card));
  if (!cameras.length) {
    say("cameras-status", canOperate ? "No cameras yet: add one below." : "No cameras yet: an operator adds them.");
  } else {
    say("cameras-status", `${cameras.length} camera${cameras.length === 1 ? "" : "s"}.`);
  }
}

async function load() {
  try {
    cameras = await listCameras(api, ApiFailure, () =>
      say("cameras-status", "This server has no camera support yet.", "error"),
    );
    render();
  } catch (err) {
    say("cameras-status", err.message || String(err), "error");
  }
}

// Live: new, changed and deleted cameras and state changes, without reloading.
onEvents("camera.state,camera.created,camera.updated,camera.deleted", (type, payload) => {
  if (type === "camera.state") {
    const camera = cameras.find((c) => c.id === payload.camera_id);
    if (!camera) return;
    camera.status = { ...(camera.status || {}), state: payload.state, error: payload.error, since: payload.since };
    const item = list.querySelector(`[data-camera="${CSS.escape(camera.id)}"]`);
    if (item && !item.contains(document.activeElement)) item.replaceWith(card(camera));
    else if (item) setBadge(item.querySelector(".badge"), payload.state);
  } else if (type === "camera.created" || type === "camera.updated") {
    const camera = payload.camera;
    if (!camera?.id) return;
    const i = cameras.findIndex((c) => c.id === camera.id);
    if (i >= 0) cameras[i] = camera;
    else cameras.push(camera);
    render();
  } else if (type === "camera.deleted") {
    const id = payload.camera?.id ?? payload.id;
    cameras = cameras.filter((c) => c.id !== id);
    render();
  }
});

// ---- The add / edit form (operators) ----

const field = (id) => document.getElementById(id);

/** The camera URL the API wants for the chosen source and what was typed: `browser`,
 *  `file:NAME`, `device:/dev/videoN`, or the typed rtsp(s)/http(s) URL as it is. */
function urlFor(kind, typed) {
  if (kind === "browser") return "browser";
  if (kind === "file" && !typed.startsWith("file:")) return `file:${typed}`;
  if (kind === "device" && !typed.startsWith("device:")) return `device:${typed}`;
  return typed;
}

function updateUrlRow() {
  const kind = field("cam-kind").value;
  field("cam-url-row").hidden = kind === "browser";
  const help = {
    rtsp: "For example rtsp://user:password@192.168.1.20/stream1. The password is stored encrypted and never shown again.",
    http: "An MJPEG stream or a snapshot URL, for example http://192.168.1.21/video.mjpg.",
    file: "The name of a video file in the server's camera files folder (cameras.files_dir), for example door.mp4.",
    device: "A video device on the server, for example /dev/video0.",
  };
  field("cam-url-help").textContent = help[kind] || "";
}

function body() {
  const kind = field("cam-kind").value;
  const url = urlFor(kind, field("cam-url").value.trim());
  const out = {
    name: field("cam-name").value.trim(),
    detect_fps: Number(field("cam-fps").value),
    detect_width: Number(field("cam-width").value),
    confidence: Number(field("cam-confidence").value),
    retention_days: Number(field("cam-retention").value),
    motion_gating: field("cam-motion").checked,
    enabled: field("cam-enabled").checked,
  };
  // The API shows a stored URL with its password masked: an unchanged one is not sent.
  if (!(editing && url === editing.url)) out.url = url;
  const zones = field("cam-zones").value.trim();
  out.zones = zones ? JSON.parse(zones) : [];
  return out;
}

function fill(camera) {
  editing = camera;
  field("cam-id").value = camera.id;
  field("cam-name").value = camera.name || "";
  const kind = camera.kind === "rtsps" ? "rtsp" : camera.kind === "https" ? "http" : camera.kind;
  field("cam-kind").value = kind;
  const shown = camera.url || "";
  field("cam-url").value =
    kind === "browser" ? "" : shown.replace(kind === "file" ? /^file:/ : kind === "device" ? /^device:/ : /^$/, "");
  field("cam-fps").value = camera.detect_fps ?? 5;
  field("cam-width").value = camera.detect_width ?? 640;
  field("cam-confidence").value = camera.confidence ?? 0.75;
  field("cam-retention").value = camera.retention_days ?? 30;
  field("cam-motion").checked = camera.motion_gating !== false;
  field("cam-enabled").checked = camera.enabled !== false;
  // One zone per line reads better than JSON.stringify's one number per line.
  field("cam-zones").value = camera.zones?.length
    ? `[\n${camera.zones.map((z) => `  ${JSON.stringify(z)}`).join(",\n")}\n]`
    : "";
  field("camera-form-heading").textContent = `Edit “${camera.name}”`;
  field("cam-save").textContent = "Save changes";
  field("cam-cancel").hidden = false;
  updateUrlRow();
  field("cam-name").focus();
}

function resetForm() {
  editing = null;
  form.reset();
  field("cam-id").value = "";
  field("camera-form-heading").textContent = "Add a camera";
  field("cam-save").textContent = "Add camera";
  field("cam-cancel").hidden = true;
  field("cam-test-result").hidden = true;
  updateUrlRow();
}

function formSay(text, kind) {
  say(form.querySelector("[data-status]"), text, kind);
}

async function save(event) {
  event.preventDefault();
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  if (!field("cam-name").value.trim()) {
    field("cam-name").setAttribute("aria-invalid", "true");
    field("cam-name").focus();
    return formSay("Name: please fill this in.", "error");
  }
  if (field("cam-kind").value !== "browser" && !field("cam-url").value.trim()) {
    field("cam-url").setAttribute("aria-invalid", "true");
    field("cam-url").focus();
    return formSay("Address: please fill this in.", "error");
  }
  let payload;
  try {
    payload = body();
  } catch {
    field("cam-more").open = true;
    field("cam-zones").setAttribute("aria-invalid", "true");
    field("cam-zones").focus();
    return formSay("Zones: this is not valid JSON (see the example under the field).", "error");
  }
  const button = field("cam-save");
  button.disabled = true;
  formSay("Saving…");
  try {
    const saved = editing
      ? await api("PATCH", `/api/v1/cameras/${encodeURIComponent(editing.id)}`, payload)
      : await api("POST", "/api/v1/cameras", payload);
    const i = cameras.findIndex((c) => c.id === saved.id);
    if (i >= 0) cameras[i] = saved;
    else cameras.push(saved);
    render();
    resetForm();
    formSay(`Saved “${saved.name}”.`, "ok");
    if (saved.kind === "browser") {
      formSay(`Saved “${saved.name}”. Open its page on the device whose camera it is: /cameras/${saved.id}/browser`, "ok");
    }
  } catch (err) {
    formSay(err instanceof ApiFailure ? err.message : String(err), "error");
  } finally {
    button.disabled = false;
  }
}

/** What the connection test found, in words. */
function describeTest(result) {
  if (!result.ok) {
    return [`Could not read a picture: ${result.error || "no reason given."}`, "error"];
  }
  const parts = ["Connected."];
  if (result.width && result.height) parts.push(`The picture is ${result.width} × ${result.height}`);
  if (result.codec) parts.push(`in ${result.codec}`);
  if (result.fps) parts.push(`at ${Math.round(result.fps * 10) / 10} frames a second`);
  let text = parts.length > 1 ? `${parts[0]} ${parts.slice(1).join(" ")}.` : parts[0];
  const faces = Array.isArray(result.faces) ? result.faces : [];
  const bare = faces.filter((f) => (f.label ?? f.mask?.label) === "no_mask").length;
  text += faces.length
    ? ` The first picture has ${faces.length} face${faces.length === 1 ? "" : "s"}${bare ? `, ${bare} without a mask` : ""}.`
    : " No face in the first picture.";
  return [text, "ok"];
}

async function testConnection() {
  const out = field("cam-test-result");
  const typed = field("cam-url").value.trim();
  const url = urlFor(field("cam-kind").value, typed);
  out.hidden = false;
  if (field("cam-kind").value === "browser") {
    out.className = "test-result";
    out.textContent = "A browser camera has nothing to test here: open its page on the device to start it.";
    return;
  }
  if (!typed || (editing && url === editing.url)) {
    out.className = "test-result error";
    out.textContent = editing
      ? "Type the full address again (with its password) to test it: the saved one is never shown."
      : "Type the camera's address first.";
    field("cam-url").focus();
    return;
  }
  const button = field("cam-test");
  button.disabled = true;
  out.className = "test-result";
  out.textContent = "Connecting to the camera… (up to a few seconds)";
  try {
    const [text, kind] = describeTest(await api("POST", "/api/v1/cameras/test", { url }));
    out.textContent = text;
    out.className = `test-result ${kind}`;
  } catch (err) {
    out.textContent = err instanceof ApiFailure ? err.message : String(err);
    out.className = "test-result error";
  } finally {
    button.disabled = false;
  }
}

if (form) {
  form.addEventListener("submit", save);
  field("cam-kind").addEventListener("change", updateUrlRow);
  field("cam-test").addEventListener("click", testConnection);
  field("cam-cancel").addEventListener("click", () => {
    resetForm();
    field("cam-name").focus();
  });
  list.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("button[data-edit]") : null;
    const camera = button && cameras.find((c) => c.id === button.dataset.edit);
    if (camera) fill(camera);
  });
  updateUrlRow();
}

await load();
// `/cameras#edit=cam_…` (the camera page's Edit link) opens that camera in the form.
const wanted = new URLSearchParams(window.location.hash.slice(1)).get("edit");
const toEdit = wanted && cameras.find((c) => c.id === wanted);
if (form && toEdit) fill(toEdit);
