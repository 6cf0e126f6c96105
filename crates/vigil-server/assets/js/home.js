// The home page's overview for an operator: every camera with its state (live from the
// event stream), today's compliance and counts, and the latest violations' snapshots.
// On a server without the camera API the overview is simply left out.
import { api, ApiFailure } from "./console.js";
import { count, el, listCameras, onEvents, pct, say, setBadge, startOfToday, violationThumb } from "./ui.js";

const overview = document.getElementById("overview");
const strip = document.getElementById("home-cameras");
let missing = false;

function chip(camera) {
  const state = el("span");
  setBadge(state, camera.status?.state);
  return el(
    "li",
    { dataset: { camera: camera.id } },
    el("a", { href: `/cameras/${encodeURIComponent(camera.id)}` }, el("strong", { text: camera.name }), " ", state),
    camera.status?.error ? el("span", { className: "hint", text: ` ${camera.status.error}` }) : null,
  );
}

async function cameras() {
  let list;
  try {
    list = await listCameras(api, ApiFailure, () => {
      missing = true;
    });
  } catch (err) {
    say("home-cameras-status", err.message || String(err), "error");
    return;
  }
  if (missing) {
    overview.hidden = true;
    return;
  }
  strip.replaceChildren(...list.map(chip));
  document.getElementById("home-first-steps").hidden = list.length > 0;
  const online = list.filter((c) => c.status?.state === "online").length;
  const offline = list.filter((c) => c.status?.state === "offline").length;
  say(
    "home-cameras-status",
    list.length ? `${online} of ${list.length} online${offline ? `, ${offline} offline` : ""}.` : "",
    offline ? "error" : "",
  );
}

async function today() {
  try {
    const q = new URLSearchParams({ bucket: "day", since: String(startOfToday()), until: String(Date.now()) });
    const stats = await api("GET", `/api/v1/stats?${q}`);
    const t = stats.totals || {};
    document.getElementById("home-compliance").textContent = pct(t.compliance);
    document.getElementById("home-faces").textContent = count(t.faces);
    document.getElementById("home-today-violations").textContent = count(t.violations);
  } catch {
    // The tiles keep their dashes.
  }
}

async function latest() {
  const list = document.getElementById("home-violations");
  try {
    const data = await api("GET", "/api/v1/violations?limit=6");
    const items = data.items || [];
    list.replaceChildren(...items.map(violationThumb));
    if (!items.length) list.replaceChildren(el("li", { className: "hint", text: "None yet." }));
  } catch {
    list.replaceChildren();
  }
}

await cameras();
if (!missing) {
  today();
  latest();
  let again = null;
  onEvents("camera.state,camera.created,camera.updated,camera.deleted,violation.created", (type) => {
    clearTimeout(again);
    again = setTimeout(() => {
      cameras();
      if (type === "violation.created") {
        today();
        latest();
      }
    }, 300);
  });
}
