// "Try an image": a picture from a file or the webcam goes to POST /api/v1/analyze as it
// is (the raw body); the answer's faces are drawn on the picture in a canvas, listed with
// their mask verdicts, and the time per stage is shown as a bar. Nothing is stored.
import { api, ApiFailure } from "./console.js";
import { WORDS, boxOf, drawFaces, labelOf } from "./draw.js";
import { cameraProblem, canCapture, el, say, stopStream } from "./ui.js";

const fileInput = document.getElementById("try-file");
const detector = document.getElementById("try-detector");
const canvas = document.getElementById("try-canvas");
const video = document.getElementById("try-video");
const webcamBox = document.getElementById("try-webcam");
const startButton = document.getElementById("try-webcam-start");
let stream = null;
let last = null;

/** Sends `blob` to the engine and shows what it found. */
async function analyze(blob, what) {
  say("try-status", `Looking at ${what}…`);
  let analysis;
  try {
    const q = new URLSearchParams({ detector: detector.value });
    analysis = await api("POST", `/api/v1/analyze?${q}`, blob);
  } catch (err) {
    let message = err instanceof ApiFailure ? err.message : String(err);
    if (err instanceof ApiFailure && err.status === 503) {
      message += " The engine is busy or its models are not loaded; try again in a moment.";
    }
    say("try-status", message, "error");
    return;
  }
  let picture;
  try {
    picture = await createImageBitmap(blob);
  } catch {
    say("try-status", "The engine read the picture but this browser cannot show it.", "error");
    return;
  }
  last = { blob, what };
  show(picture, analysis);
  const n = analysis.faces.length;
  say("try-status", n ? `${n} face${n === 1 ? "" : "s"} found in ${what}.` : `No face found in ${what}.`, "ok");
}

function show(picture, analysis) {
  canvas.width = picture.width;
  canvas.height = picture.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(picture, 0, 0);
  const size = analysis.image || { width: picture.width, height: picture.height };
  drawFaces(ctx, analysis.faces, picture.width / size.width, picture.height / size.height);
  canvas.dataset.faces = String(analysis.faces.length);
  document.getElementById("try-caption").textContent =
    `${size.width} × ${size.height} pixels, analysed by ${analysis.engine}.`;

  const list = document.getElementById("try-faces");
  list.replaceChildren(
    ...analysis.faces.map((face) => {
      const label = labelOf(face);
      const [x, y, w, h] = boxOf(face).map(Math.round);
      const verdict = face.mask
        ? `${WORDS[label]} (${Math.round(face.mask.score * 100)}% sure)`
        : "no mask verdict (no mask model loaded)";
      return el(
        "li",
        { className: `face ${label}` },
        el("span", { className: `swatch ${label}`, "aria-hidden": "true" }),
        el("strong", { text: verdict }),
        el("span", {
          className: "hint",
          text: `A face with ${Math.round(face.score * 100)}% confidence, ${w} × ${h} pixels at (${x}, ${y}).`,
        }),
      );
    }),
  );
  if (!analysis.faces.length) list.append(el("li", { text: "No face. Try a picture where faces are larger or better lit." }));
  timings(analysis.timings_ms || {});
  const result = document.getElementById("try-result");
  const first = result.hidden;
  result.hidden = false;
  if (first) result.scrollIntoView({ block: "nearest" });
}

const STAGES = [
  ["decode", "reading the picture"],
  ["detect", "finding faces"],
  ["mask", "checking masks"],
  ["embed", "face embeddings"],
  ["liveness", "liveness"],
];

function timings(t) {
  const total = typeof t.total === "number" && t.total > 0 ? t.total : 1;
  const bar = document.getElementById("try-timings");
  const list = document.getElementById("try-timings-list");
  bar.replaceChildren();
  list.replaceChildren();
  for (const [key, words] of STAGES) {
    if (typeof t[key] !== "number") continue;
    const part = el("span", { className: `stage stage-${key}`, title: `${words}: ${t[key].toFixed(1)} ms` });
    // A CSSOM property, which the CSP allows (a style attribute would not be).
    part.style.width = `${Math.max(0.5, (100 * t[key]) / total)}%`;
    bar.append(part);
    list.append(
      el("dt", {}, el("span", { className: `swatch stage-${key}`, "aria-hidden": "true" }), words),
      el("dd", { text: `${t[key].toFixed(1)} ms` }),
    );
  }
  if (typeof t.total === "number") {
    list.append(el("dt", { text: "in all" }), el("dd", { text: `${t.total.toFixed(1)} ms` }));
  }
}

fileInput.addEventListener("change", () => {
  const file = fileInput.files?.[0];
  if (file) analyze(file, `“${file.name}”`);
});

// A new detector re-runs the last picture, so the difference is easy to see.
detector.addEventListener("change", () => {
  if (last) analyze(last.blob, last.what);
});

async function startWebcam() {
  if (!canCapture()) {
    say("try-status", cameraProblem(null), "error");
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 1280 }, height: { ideal: 720 } },
      audio: false,
    });
  } catch (err) {
    say("try-status", cameraProblem(err), "error");
    return;
  }
  video.srcObject = stream;
  webcamBox.hidden = false;
  startButton.hidden = true;
  say("try-status", "The webcam is on. Take the picture when you are ready.");
  document.getElementById("try-snap").focus();
}

function stopWebcam() {
  stopStream(stream);
  stream = null;
  video.srcObject = null;
  webcamBox.hidden = true;
  startButton.hidden = false;
}

startButton.addEventListener("click", startWebcam);
document.getElementById("try-webcam-stop").addEventListener("click", () => {
  stopWebcam();
  startButton.focus();
});
document.getElementById("try-snap").addEventListener("click", () => {
  if (!stream || !video.videoWidth) {
    say("try-status", "The webcam has no picture yet; wait a moment.", "error");
    return;
  }
  const grab = document.createElement("canvas");
  grab.width = video.videoWidth;
  grab.height = video.videoHeight;
  grab.getContext("2d").drawImage(video, 0, 0);
  grab.toBlob((blob) => blob && analyze(blob, "the webcam picture"), "image/jpeg", 0.92);
});

// The camera is released whenever the page is hidden or left.
document.addEventListener("visibilitychange", () => {
  if (document.hidden && stream) stopWebcam();
});
window.addEventListener("pagehide", () => stopWebcam());

