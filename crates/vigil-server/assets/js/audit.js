// The audit log page: reads the filter from the page's own query string, fetches one page
// of /api/v1/audit, renders it with textContent only, and points the CSV export and the
// "older" link at the same filter. Times in the form are local (datetime-local) and are
// sent to the API as Unix milliseconds.
import { api, ApiFailure, filterQuery } from "./console.js";

const params = new URLSearchParams(window.location.search);
const FIELDS = ["action", "actor", "outcome", "limit"];

function apiQuery() {
  return filterQuery(params, FIELDS);
}

function cell(row, text, tag = "td") {
  const el = document.createElement(tag);
  el.textContent = text ?? "";
  row.append(el);
  return el;
}

function render(items) {
  const body = document.querySelector("#audit tbody");
  body.replaceChildren(
    ...items.map((e) => {
      const tr = document.createElement("tr");
      cell(tr, String(e.seq));
      const when = document.createElement("time");
      const at = new Date(e.at);
      when.dateTime = at.toISOString();
      when.textContent = at.toLocaleString();
      cell(tr, "").append(when);
      cell(tr, e.actor_name ? `${e.actor_name} (${e.actor_kind})` : e.actor_kind);
      cell(tr, e.ip);
      cell(tr, e.action);
      cell(tr, e.target_kind ? `${e.target_kind} ${e.target_id ?? ""}` : "");
      cell(tr, e.outcome).classList.add(e.outcome === "failure" ? "error" : "ok");
      cell(tr, e.detail == null ? "" : JSON.stringify(e.detail));
      return tr;
    }),
  );
}

async function load() {
  const status = document.getElementById("audit-status");
  const q = apiQuery();
  document.getElementById("audit-export").href = `/api/v1/audit/export.csv?${q}`;
  const before = params.get("before_seq");
  if (before) q.set("before_seq", before);
  try {
    const data = await api("GET", `/api/v1/audit?${q}`);
    const items = data.items || [];
    render(items);
    status.textContent = items.length
      ? `${items.length} entr${items.length === 1 ? "y" : "ies"}${before ? ` before #${before}` : ""}.`
      : "No entries match.";
    const older = document.getElementById("audit-older");
    if (data.next_before_seq != null) {
      const next = new URLSearchParams(params);
      next.set("before_seq", String(data.next_before_seq));
      older.href = `/admin/audit?${next}`;
      older.hidden = false;
    }
    if (before) {
      const newest = new URLSearchParams(params);
      newest.delete("before_seq");
      const link = document.getElementById("audit-newest");
      link.href = `/admin/audit?${newest}`;
      link.hidden = false;
    }
  } catch (err) {
    status.textContent = err instanceof ApiFailure ? err.message : String(err);
    status.classList.add("error");
  }
}

load();
