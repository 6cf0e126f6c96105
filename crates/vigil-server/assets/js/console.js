// Vigil console: one generic way for pages to call the JSON API.
//
//   <form data-api="/api/v1/…" data-method="POST" data-then="reload">  → JSON body from
//     the form's named fields; submit with Enter or the button.
//   <button data-api="…" data-method="DELETE" data-body='{"disabled":true}'
//           data-confirm="Really?" data-then="…">
//
// Every call sends the CSRF token from <meta name="csrf-token"> (and takes a new one from
// any answer that carries `csrf_token`, since password and TOTP changes rotate the
// session). Errors go into the nearest [data-status] live region. When the server wants
// the current password to confirm a sensitive change (403 `reauth_required`: the sign-in
// is older than a few minutes), the page asks for it in the #reauth-dialog and sends
// the same request again with `current_password`. Text from the server
// is only ever set with textContent; the one exception is the QR code, an SVG the server
// makes itself. Loaded as a module from a file so it runs under the strict CSP.

const csrfMeta = () => document.querySelector('meta[name="csrf-token"]');

/** An API error with the envelope's code and message. */
export class ApiFailure extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** Calls the API; resolves to the JSON answer (null for 204), rejects with ApiFailure.
 *  A Blob body (an image) is sent as it is, with its own type; anything else as JSON. */
export async function api(method, url, body) {
  const headers = { Accept: "application/json" };
  const token = csrfMeta()?.content;
  if (token) headers["X-CSRF-Token"] = token;
  // The referrer policy is set here too so no page's policy (a stricter one would make
  // the browser send `Origin: null` on these POSTs, which the server refuses) can break
  // the console's own requests; same-origin never sends anything to another site.
  const init = { method, headers, credentials: "same-origin", referrerPolicy: "same-origin" };
  if (body instanceof Blob) {
    headers["Content-Type"] = body.type || "application/octet-stream";
    init.body = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(url, init);
  } catch {
    throw new ApiFailure(0, "network", "The server could not be reached. Check the connection and try again.");
  }
  let data = null;
  if (resp.status !== 204) {
    try {
      data = await resp.json();
    } catch {
      data = null;
    }
  }
  if (data && typeof data.csrf_token === "string" && csrfMeta()) {
    csrfMeta().content = data.csrf_token;
  }
  if (!resp.ok) {
    const err = data && data.error ? data.error : {};
    let message = err.message || `The request failed (HTTP ${resp.status}).`;
    const retry = resp.headers.get("Retry-After");
    if (resp.status === 429 && retry) message += ` Try again in ${retry} seconds.`;
    if (err.request_id) message += ` (request ${err.request_id})`;
    throw new ApiFailure(resp.status, err.code || `http_${resp.status}`, message, retry);
  }
  return data;
}

/** The API query for a filter page: the `fields` of its own query string as they are,
 *  and `since`/`until` (local datetime-local values) as Unix milliseconds. */
export function filterQuery(params, fields) {
  const q = new URLSearchParams();
  for (const name of fields) {
    const v = params.get(name);
    if (v) q.set(name, v);
  }
  for (const name of ["since", "until"]) {
    const v = params.get(name);
    const ms = v ? new Date(v).getTime() : NaN;
    if (Number.isFinite(ms)) q.set(name, String(ms));
  }
  return q;
}

/** The live region for an element: its form's or row's, else the page's. */
function statusFor(el) {
  const scope = el.closest("form, [data-scope]");
  return scope?.querySelector("[data-status]") || document.getElementById("status");
}

function say(el, text, kind) {
  const region = statusFor(el);
  if (!region) return;
  region.textContent = text;
  region.classList.toggle("error", kind === "error");
  region.classList.toggle("ok", kind === "ok");
}

/** The JSON body of a form: named, enabled fields; numbers as numbers; empty optional
 *  fields (data-omit-empty) left out. */
function formBody(form) {
  const body = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled || el.type === "submit" || el.type === "button") continue;
    if (el.type === "checkbox") {
      body[el.name] = el.checked;
      continue;
    }
    const value = el.value;
    if (value === "" && el.hasAttribute("data-omit-empty")) continue;
    body[el.name] = el.type === "number" ? Number(value) : value;
  }
  return body;
}

/** Checks required fields and "type it again" fields before anything is sent. */
function validate(form) {
  for (const el of form.elements) {
    if (el.disabled || !el.willValidate) continue;
    el.removeAttribute("aria-invalid");
  }
  for (const el of form.elements) {
    if (el.disabled || !el.willValidate) continue;
    const label = form.querySelector(`label[for="${el.id}"]`)?.textContent.trim() || el.name;
    if (el.required && el.value.trim() === "") return fail(el, `${label}: please fill this in.`);
    if (el.minLength > 0 && el.value.length > 0 && el.value.length < el.minLength) {
      return fail(el, `${label}: at least ${el.minLength} characters.`);
    }
    const other = el.dataset.match && document.getElementById(el.dataset.match);
    if (other && other.value !== el.value) return fail(el, "The two passwords differ.");
  }
  return true;
}

function fail(el, message) {
  el.setAttribute("aria-invalid", "true");
  say(el, message, "error");
  el.focus();
  return false;
}

// What to do after a success: data-then="name" or "name:argument".
const THEN = {
  reload: () => window.location.reload(),
  go: (_el, _data, arg) => window.location.assign(arg || "/"),
  login: (form, data) => {
    if (data && data.must_enroll_totp) {
      window.location.assign("/account");
    } else {
      // The server put a same-site path here (see safe_next).
      window.location.assign(form.dataset.next || "/");
    }
  },
  passwordChanged: (form) => {
    form.reset();
    say(form, "Password changed. Your other sessions were signed out.", "ok");
  },
  totpEnrol: (_el, data) => {
    const box = document.getElementById("totp-enrol");
    const qr = document.getElementById("totp-qr");
    // The only markup we insert: the server's own QR code, and only if it is an SVG.
    if (typeof data.qr_svg === "string" && data.qr_svg.startsWith("<svg")) {
      qr.innerHTML = data.qr_svg;
    }
    document.getElementById("totp-secret").textContent = data.secret_base32 || "";
    box.hidden = false;
    document.getElementById("totp-code").focus();
  },
  totpConfirmed: (form, data) => {
    const list = document.getElementById("recovery-codes");
    list.replaceChildren(
      ...(data.recovery_codes || []).map((code) => {
        const li = document.createElement("li");
        const c = document.createElement("code");
        c.textContent = code;
        li.append(c);
        return li;
      }),
    );
    document.getElementById("totp-enrol").hidden = true;
    document.getElementById("totp-start")?.closest("[data-scope]")?.setAttribute("hidden", "");
    const box = document.getElementById("recovery");
    box.hidden = false;
    box.focus();
    form.reset();
  },
  apikeyCreated: (form, data) => {
    showSecret(form, data.key, null);
    say(form, `Key "${data.api_key?.name ?? ""}" created. Copy it now: it is not shown again.`, "ok");
  },
  resetLink: (button, data) => {
    showSecret(button.closest("[data-scope]"), data.url, data.expires_at);
    say(button, "Reset link issued; it is shown only once.", "ok");
  },
  revoked: (button, data) => {
    const n = data && typeof data.revoked === "number" ? data.revoked : 0;
    say(button, `Signed out of ${n} session${n === 1 ? "" : "s"}.`, "ok");
  },
};

function showSecret(scope, value, expiresAt) {
  const box = scope.querySelector("[data-secret-box]");
  if (!box) return;
  const input = box.querySelector("[data-secret]");
  input.value = value || "";
  const expiry = box.querySelector("[data-secret-expiry]");
  if (expiry && expiresAt) expiry.textContent = new Date(expiresAt).toLocaleString();
  box.hidden = false;
  input.focus();
  input.select();
}

// What to do with some errors instead of just showing them: data-error="name".
const ON_ERROR = {
  login: (form, err) => {
    if (err.code !== "totp_required" && err.code !== "invalid_totp_code") return false;
    const row = document.getElementById("totp-row");
    const field = document.getElementById("totp");
    const first = row.hidden;
    row.hidden = false;
    field.disabled = false;
    say(form, first ? "Enter the code from your authenticator app." : err.message, first ? "" : "error");
    field.focus();
    return true;
  },
};

/** Asks for the current password in the page's dialog; resolves to it, or to null when
 *  the person cancels (or the page has no dialog). `problem` is shown as an error. */
function askPassword(problem) {
  const dialog = document.getElementById("reauth-dialog");
  if (!dialog || typeof dialog.showModal !== "function") return Promise.resolve(null);
  const form = dialog.querySelector("form");
  const input = document.getElementById("reauth-password");
  const status = dialog.querySelector("[data-status]");
  status.textContent = problem || "";
  status.classList.toggle("error", Boolean(problem));
  input.value = "";
  return new Promise((resolve) => {
    let answer = null;
    const onSubmit = (event) => {
      event.preventDefault();
      if (input.value === "") {
        status.textContent = "Enter your current password.";
        status.classList.add("error");
        input.focus();
        return;
      }
      answer = input.value;
      dialog.close();
    };
    const onClose = () => {
      form.removeEventListener("submit", onSubmit);
      input.value = "";
      resolve(answer);
    };
    form.addEventListener("submit", onSubmit);
    dialog.addEventListener("close", onClose, { once: true });
    dialog.showModal();
    input.focus();
  });
}

/** `api`, asking for the current password and retrying when the server wants it. */
async function callConfirmed(method, url, body) {
  let send = body;
  let asked = false;
  for (;;) {
    try {
      return await api(method, url, send);
    } catch (err) {
      const wantsPassword =
        err instanceof ApiFailure &&
        (err.code === "reauth_required" || (asked && err.code === "reauth_failed"));
      if (!wantsPassword) throw err;
      const password = await askPassword(asked ? err.message : "");
      if (password === null) throw err;
      send = { ...(body || {}), current_password: password };
      asked = true;
    }
  }
}

async function run(el, method, url, body) {
  const confirmText = el.dataset.confirm;
  if (confirmText && !window.confirm(confirmText)) return;
  const buttons = el.tagName === "FORM" ? el.querySelectorAll("button") : [el];
  buttons.forEach((b) => {
    b.disabled = true;
  });
  el.setAttribute("aria-busy", "true");
  say(el, "Working…", "");
  try {
    const data = await callConfirmed(method, url, body);
    say(el, "Done.", "ok");
    const [name, ...rest] = (el.dataset.then || "").split(":");
    const then = THEN[name];
    if (then) then(el, data, rest.join(":"));
  } catch (err) {
    const handler = ON_ERROR[el.dataset.error];
    if (!(handler && handler(el, err))) {
      let message = err instanceof ApiFailure ? err.message : String(err);
      // A session that ended elsewhere (signed out, revoked, expired) cannot do more here.
      if (err instanceof ApiFailure && err.status === 401 && el.dataset.error !== "login") {
        message += " Sign in again.";
      }
      say(el, message, "error");
    }
  } finally {
    buttons.forEach((b) => {
      b.disabled = false;
    });
    el.removeAttribute("aria-busy");
  }
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.api) return;
  event.preventDefault();
  if (!validate(form)) return;
  run(form, form.dataset.method || "POST", form.dataset.api, formBody(form));
});

document.addEventListener("click", (event) => {
  const target = event.target instanceof Element ? event.target : null;
  const button = target?.closest("button");
  if (!button || button.type === "submit") return;
  if (button.dataset.api) {
    let body;
    if (button.dataset.body) {
      try {
        body = JSON.parse(button.dataset.body);
      } catch {
        body = undefined;
      }
    }
    run(button, button.dataset.method || "POST", button.dataset.api, body);
  } else if (button.dataset.copy) {
    copy(button, document.getElementById(button.dataset.copy));
  } else if (button.dataset.action === "reload") {
    window.location.reload();
  } else if (button.dataset.action === "close-dialog") {
    button.closest("dialog")?.close();
  }
});

async function copy(button, input) {
  if (!input) return;
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
    say(button, "Copied to the clipboard.", "ok");
  } catch {
    // The clipboard API needs HTTPS or localhost; the text stays selected for Ctrl+C.
    say(button, "Press Ctrl+C (or ⌘C) to copy the selected text.", "");
  }
}

// One-time tokens arrive in the URL's fragment (`/reset#token=…`, `/setup#token=…`), which
// the browser never sends to the server. Move the token into the form field marked
// data-token-from-hash and remove it from the address bar and history, so it is not
// left on screen, in bookmarks or in the history list; the form then sends it in the
// request body. A page without a token shows the element named by data-missing instead
// of the form.
function takeTokenFromHash() {
  const field = document.querySelector("[data-token-from-hash]");
  if (!field) return;
  const params = new URLSearchParams(window.location.hash.slice(1));
  const token = params.get("token");
  if (token) {
    field.value = token;
    history.replaceState(null, "", window.location.pathname + window.location.search);
    return;
  }
  const missing = field.dataset.missing && document.getElementById(field.dataset.missing);
  if (missing && !field.value) {
    field.form?.setAttribute("hidden", "");
    missing.hidden = false;
  }
}

takeTokenFromHash();
