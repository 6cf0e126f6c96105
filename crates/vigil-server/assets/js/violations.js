// The violations page: the filter form's fields (read from the page's own query string)
// go to GET /api/v1/violations; each violation is a card with the face crop, the camera,
// the time, the score and the zone; the whole frame opens in a dialog. Operators
// acknowledge (with a note) and delete. The CSV link and the "older" link carry the same
// filter. On the first page, new violations arrive live from the event stream.
import { api, ApiFailure, filterQuery } from "./console.js";
import { el, listCameras, onEvents, say, timeEl } from "./ui.js";

const form = document.getElementById("violations-filter");
const canOperate = form.dataset.canOperate === "true";
const params = new URLSearchParams(window.location.search);
const list = document.getElementById("violations");
const PAGE = 48;

/** The filter for the API (the form's local times as Unix ms). */
function apiQuery() {
  return filterQuery(params, ["camera", "acknowledged"]);
}

function fillForm() {
  for (const name of ["since", "until", "acknowledged"]) {
    const input = form.elements.namedItem(name);
    if (input && params.get(name)) input.value = params.get(name);
  }
}

async function fillCameras() {
  const select = document.getElementById("f-camera");
  let cameras = [];
  try {
    cameras = await listCameras(api, ApiFailure);
  } catch {
    // The filter still works by id from the address bar.
  }
  const wanted = params.get("camera") || "";
  for (const c of cameras) select.append(el("option", { value: c.id, text: c.name }));
  if (wanted && !cameras.some((c) => c.id === wanted)) select.append(el("option", { value: wanted, text: wanted }));
  select.value = wanted;
}

function card(v) {
  const id = encodeURIComponent(v.id);
  const frame = el(
    "button",
    { type: "button", className: "face-button", "data-frame": `/api/v1/violations/${id}/frame.jpg`, "aria-label": "Show the whole picture" },
    el("img", { src: `/api/v1/violations/${id}/face.jpg`, alt: "The face seen without a mask", width: 160, height: 160, loading: "lazy" }),
  );
  const facts = el(
    "dl",
    { className: "facts" },
    el("dt", { text: "Camera" }),
    el("dd", {}, el("a", { href: `/cameras/${encodeURIComponent(v.camera_id)}`, text: v.camera_name || v.camera_id })),
    el("dt", { text: "When" }),
    el("dd", {}, timeEl(v.at)),
    el("dt", { text: "No mask, sure at" }),
    el("dd", { text: `${Math.round((v.score ?? 0) * 100)}%` }),
  );
  if (v.zone) facts.append(el("dt", { text: "Zone" }), el("dd", { text: v.zone }));
  facts.append(el("dt", { text: "Person (track)" }), el("dd", { text: `#${v.track}` }));
  const item = el("li", { className: "violation-card", id: v.id, dataset: { violation: v.id }, "data-scope": true }, frame, facts);
  if (v.acknowledged) {
    const a = v.acknowledged;
    item.classList.add("acknowledged");
    item.append(
      el("p", { className: "ack" }, `Acknowledged by ${a.by} on `, timeEl(a.at), a.note ? `: “${a.note}”` : "."),
    );
  } else if (canOperate) {
    item.append(
      el(
        "form",
        { className: "ack-form", "data-ack": v.id },
        el("label", { for: `note-${v.id}`, className: "visually-hidden", text: "Note" }),
        el("input", { id: `note-${v.id}`, name: "note", type: "text", placeholder: "Note (optional)", maxlength: 500 }),
        el("button", { type: "submit", text: "Acknowledge" }),
      ),
    );
  }
  if (canOperate) {
    item.append(
      el("button", {
        type: "button",
        className: "danger",
        "data-api": `/api/v1/violations/${id}`,
        "data-method": "DELETE",
        "data-confirm": "Delete this violation and its pictures?",
        "data-then": "reload",
        text: "Delete",
      }),
    );
  }
  item.append(el("div", { className: "status", role: "status", "aria-live": "polite", "data-status": true }));
  return item;
}

async function load() {
  const q = apiQuery();
  document.getElementById("violations-export").href = `/api/v1/violations/export.csv?${q}`;
  const before = params.get("before");
  if (before) q.set("before", before);
  q.set("limit", String(PAGE));
  try {
    const data = await api("GET", `/api/v1/violations?${q}`);
    const items = data.items || [];
    list.replaceChildren(...items.map(card));
    say(
      "violations-status",
      items.length
        ? `${items.length}${data.next_before ? "+" : ""} violation${items.length === 1 ? "" : "s"}${before ? " (older page)" : ""}.`
        : "No violations match: everyone seen wore a mask.",
    );
    if (data.next_before) {
      const next = new URLSearchParams(params);
      next.set("before", String(data.next_before));
      const older = document.getElementById("violations-older");
      older.href = `/violations?${next}`;
      older.hidden = false;
    }
    if (before) {
      const newest = new URLSearchParams(params);
      newest.delete("before");
      const link = document.getElementById("violations-newest");
      link.href = `/violations?${newest}`;
      link.hidden = false;
    }
    // `#vio_…` (from a thumbnail elsewhere) brings that violation into view.
    const hash = window.location.hash.slice(1);
    if (hash) document.getElementById(decodeURIComponent(hash))?.scrollIntoView();
  } catch (err) {
    say("violations-status", err instanceof ApiFailure ? err.message : String(err), "error");
  }
}

list.addEventListener("submit", async (event) => {
  const ackForm = event.target.closest("form[data-ack]");
  if (!ackForm) return;
  event.preventDefault();
  const id = ackForm.dataset.ack;
  const item = ackForm.closest("li");
  const button = ackForm.querySelector("button");
  button.disabled = true;
  try {
    const note = ackForm.elements.namedItem("note").value.trim();
    const v = await api("POST", `/api/v1/violations/${encodeURIComponent(id)}/acknowledge`, { note });
    const fresh = card(v.violation || v);
    item.replaceWith(fresh);
    say(fresh.querySelector("[data-status]"), "Acknowledged.", "ok");
  } catch (err) {
    say(item.querySelector("[data-status]"), err instanceof ApiFailure ? err.message : String(err), "error");
    button.disabled = false;
  }
});

// The whole frame, in a dialog (Escape or Close returns to the card).
list.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("button[data-frame]") : null;
  if (!button) return;
  const dialog = document.getElementById("frame-dialog");
  document.getElementById("frame-image").src = button.dataset.frame;
  dialog.showModal();
  dialog.addEventListener("close", () => button.focus(), { once: true });
});

fillForm();
fillCameras();
await load();

// Live: on the newest page, a new violation matching the filter appears on top.
if (!params.get("before")) {
  onEvents("violation.", (type, payload) => {
    const v = payload.violation;
    if (type === "violation.created" && v) {
      if (params.get("camera") && v.camera_id !== params.get("camera")) return;
      if (params.get("acknowledged") === "true" || params.get("until")) return;
      const since = apiQuery().get("since");
      if (since && v.at < Number(since)) return;
      if (!document.getElementById(v.id)) list.prepend(card(v));
    } else if (type === "violation.acknowledged" && v) {
      const item = document.getElementById(v.id);
      if (item && !item.contains(document.activeElement)) item.replaceWith(card(v));
    } else if (type === "violation.deleted") {
      document.getElementById(payload.id)?.remove();
    }
  });
}
