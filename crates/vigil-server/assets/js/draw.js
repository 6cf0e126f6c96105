// Draws faces on a canvas: a box per face in the colour of its mask label and a label
// with the words and the score above it. Used by "try an image" (over the picture) and
// the browser camera (over the live video). Boxes are `[x, y, w, h]` in the pixels of
// the analysed picture; `sx`, `sy` scale them to the canvas.

export const COLOURS = { mask: "#188038", no_mask: "#d93025", unknown: "#b06000" };
export const WORDS = { mask: "mask", no_mask: "no mask", unknown: "unsure" };

/** The label a face from the analyze API or a camera reply carries. */
export function labelOf(face) {
  const label = face.label ?? face.mask?.label;
  return Object.hasOwn(COLOURS, label) ? label : "unknown";
}

/** The score of the label (the mask verdict's, else the detector's). */
export function scoreOf(face) {
  const s = face.mask?.score ?? face.score;
  return typeof s === "number" ? s : null;
}

/** `[x, y, w, h]` of a face, whether the box is an array or `{x, y, width, height}`. */
export function boxOf(face) {
  const b = face.box;
  if (Array.isArray(b)) return b.map(Number);
  if (b && typeof b === "object") return [b.x, b.y, b.width, b.height].map(Number);
  return [0, 0, 0, 0];
}

/** Draws `faces` on `ctx`, scaled by `sx`, `sy`. */
export function drawFaces(ctx, faces, sx = 1, sy = 1) {
  const w = ctx.canvas.width;
  const line = Math.max(2, Math.round(w / 320));
  const fontPx = Math.max(12, Math.round(w / 45));
  ctx.save();
  ctx.lineWidth = line;
  ctx.font = `600 ${fontPx}px system-ui, sans-serif`;
  ctx.textBaseline = "top";
  for (const face of faces) {
    const [x, y, bw, bh] = boxOf(face);
    const label = labelOf(face);
    const colour = COLOURS[label];
    const rx = x * sx;
    const ry = y * sy;
    ctx.strokeStyle = colour;
    ctx.strokeRect(rx, ry, bw * sx, bh * sy);
    const score = scoreOf(face);
    const text = score === null ? WORDS[label] : `${WORDS[label]} ${Math.round(score * 100)}%`;
    const pad = Math.round(fontPx / 4);
    const tw = ctx.measureText(text).width + 2 * pad;
    const th = fontPx + 2 * pad;
    // Above the box, or inside its top when there is no room above.
    const ty = ry - th >= 0 ? ry - th : ry;
    ctx.fillStyle = colour;
    ctx.fillRect(rx - line / 2, ty, tw, th);
    ctx.fillStyle = "#ffffff";
    ctx.fillText(text, rx - line / 2 + pad, ty + pad);
  }
  ctx.restore();
}
