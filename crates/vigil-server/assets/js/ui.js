// Helpers shared by the camera pages (home, live wall, cameras, violations, stats, the
// browser camera and "try an image"): building elements with text only (never markup
// from the server), times and percentages in words, state badges, the live event stream
// and the plain-words reasons a browser refuses the camera.

/** An element with `props` (className, text, hidden, dataset, and plain attributes such
 *  as href, src, alt, type) and children (elements or strings, added as text). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "className") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "hidden") node.hidden = true;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/** A <time> for Unix milliseconds, in the reader's local time. */
export function timeEl(ms, withDate = true) {
  const at = new Date(ms);
  const text = withDate
    ? at.toLocaleString([], { dateStyle: "medium", timeStyle: "short" })
    : at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return el("time", { datetime: at.toISOString(), text });
}

/** "93%" for 0.93; a dash when there is nothing to measure. */
export function pct(x) {
  return typeof x === "number" && Number.isFinite(x) ? `${Math.round(x * 100)}%` : "–";
}

/** A whole number with thousands separators; a dash for nothing. */
export function count(n) {
  return typeof n === "number" && Number.isFinite(n) ? n.toLocaleString() : "–";
}

/** Midnight today, local time, as Unix milliseconds. */
export function startOfToday() {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

const STATE_WORDS = {
  online: "online",
  starting: "starting",
  offline: "offline",
  stopped: "stopped",
};

/** Sets a badge element to a camera state (colour by class, the state in words). */
export function setBadge(badge, state) {
  const known = Object.hasOwn(STATE_WORDS, state) ? state : "unknown";
  badge.className = `badge state-${known}`;
  badge.textContent = STATE_WORDS[known] || "unknown";
}

/** A new state badge. */
export function badge(state) {
  const span = el("span");
  setBadge(span, state);
  return span;
}

/** The status region `id`: sets its text, marked as an error or not. */
export function say(id, text, kind = "") {
  const region = typeof id === "string" ? document.getElementById(id) : id;
  if (!region) return;
  region.textContent = text;
  region.classList.toggle("error", kind === "error");
  region.classList.toggle("ok", kind === "ok");
}

/** Listens to the live event stream for the given type prefixes ("camera.,violation.");
 *  `handler(type, payload)` per event. The browser's EventSource reconnects by itself
 *  and resumes after the last id; `onState(open)` hears when the stream drops or is
 *  back. Returns a function that closes the stream. */
export function onEvents(types, handler, onState) {
  const source = new EventSource(`/api/v1/events?types=${encodeURIComponent(types)}`);
  source.onmessage = (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    if (event && typeof event.type === "string") handler(event.type, event.payload || {});
  };
  source.onopen = () => onState?.(true);
  source.onerror = () => onState?.(false);
  return () => source.close();
}

/** Why the camera could not be opened, in plain words, from a getUserMedia error (or
 *  from what the browser lacks, with no error). */
export function cameraProblem(err) {
  if (!window.isSecureContext) {
    return "The camera works only on a secure page. Open Vigil over HTTPS (or on this computer as http://localhost) and try again.";
  }
  if (!navigator.mediaDevices || typeof navigator.mediaDevices.getUserMedia !== "function") {
    return "This browser is too old to share its camera. Use a current Firefox, Chrome, Edge or Safari.";
  }
  switch (err?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Vigil is not allowed to use the camera. Allow camera access for this site (the camera icon in the address bar, or the browser's site settings), then press Try again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera was found. Connect a camera (or enable it in the system settings), then press Try again.";
    case "NotReadableError":
    case "AbortError":
      return "The camera is busy or could not be started: another program or tab may be using it. Close that, then press Try again.";
    default:
      return `The camera could not be started${err?.message ? `: ${err.message}` : ""}. Press Try again.`;
  }
}

/** Whether this browser can share a camera at all (a secure page with mediaDevices). */
export function canCapture() {
  return (
    window.isSecureContext &&
    Boolean(navigator.mediaDevices) &&
    typeof navigator.mediaDevices.getUserMedia === "function"
  );
}

/** Stops every track of a media stream (turns the camera light off). */
export function stopStream(stream) {
  stream?.getTracks().forEach((track) => track.stop());
}

/** Reads the JSON list of cameras; resolves to [] with `onMissing()` called when this
 *  server has no camera API (404), so pages degrade instead of failing. */
export async function listCameras(api, ApiFailure, onMissing) {
  try {
    const data = await api("GET", "/api/v1/cameras");
    return Array.isArray(data) ? data : data?.items || [];
  } catch (err) {
    if (err instanceof ApiFailure && err.status === 404) {
      onMissing?.();
      return [];
    }
    throw err;
  }
}

/** A small card for a violation: the face crop, when, where; links to the violations
 *  page filtered to its camera. */
export function violationThumb(v) {
  const id = encodeURIComponent(v.id);
  return el(
    "li",
    { className: `thumb${v.acknowledged ? " acknowledged" : ""}`, dataset: { violation: v.id } },
    el(
      "a",
      { href: `/violations?camera=${encodeURIComponent(v.camera_id)}#${id}` },
      el("img", { src: `/api/v1/violations/${id}/face.jpg`, alt: `Face seen without a mask on ${v.camera_name || "a camera"}`, loading: "lazy", width: 96, height: 96 }),
      el("span", { className: "thumb-camera", text: v.camera_name || v.camera_id }),
      timeEl(v.at),
    ),
  );
}
