// The customer's signature, drawn with a finger (or stylus, or mouse) on a <canvas> through
// pointer events. One pad per order lives as long as the app, so a screen redrawn by a
// queue flush keeps what the customer drew.
import { h } from '/console/js/dom.js';

const pads = new Map();
let drawing = 0;

// A finger is on a pad: a screen waits before redrawing, or the stroke would break.
export function busy() {
  return drawing > 0;
}

export function pad(orderId) {
  if (!pads.has(orderId)) pads.set(orderId, makePad());
  return pads.get(orderId);
}

function makePad() {
  const canvas = h('canvas', { class: 'signature-pad', dataset: { testid: 'signature-pad' },
    'aria-label': 'Signature: the customer signs here with a finger' });
  const ctx = canvas.getContext('2d');
  let strokes = 0;
  let last = null;

  // The bitmap follows the element's size (× the screen's pixel ratio) once it is laid out.
  function fit() {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.round(canvas.clientWidth * ratio), height = Math.round(canvas.clientHeight * ratio);
    if (!width || (canvas.width === width && canvas.height === height)) return;
    const keep = strokes ? canvas.toDataURL() : null;
    canvas.width = width;
    canvas.height = height;
    blank();
    if (keep) {
      const img = new Image();
      img.onload = () => ctx.drawImage(img, 0, 0, width, height);
      img.src = keep;
    }
  }

  function blank() {
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.strokeStyle = '#10243e';
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.lineWidth = 2.5 * (window.devicePixelRatio || 1);
  }

  function point(event) {
    const box = canvas.getBoundingClientRect();
    return { x: (event.clientX - box.left) * (canvas.width / box.width),
      y: (event.clientY - box.top) * (canvas.height / box.height) };
  }

  canvas.addEventListener('pointerdown', (event) => {
    fit();
    canvas.setPointerCapture(event.pointerId);
    if (!last) drawing += 1;
    last = point(event);
    ctx.beginPath();
    ctx.arc(last.x, last.y, ctx.lineWidth / 2, 0, Math.PI * 2);
    ctx.fillStyle = ctx.strokeStyle;
    ctx.fill();
    strokes += 1;
    canvas.dataset.strokes = String(strokes);
    event.preventDefault();
  });
  canvas.addEventListener('pointermove', (event) => {
    if (!last) return;
    const next = point(event);
    ctx.beginPath();
    ctx.moveTo(last.x, last.y);
    ctx.lineTo(next.x, next.y);
    ctx.stroke();
    last = next;
    event.preventDefault();
  });
  const end = () => {
    if (last) drawing -= 1;
    last = null;
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  new ResizeObserver(fit).observe(canvas);

  return {
    canvas,
    get empty() { return strokes === 0; },
    clear() {
      strokes = 0;
      canvas.dataset.strokes = '0';
      blank();
    },
    // A PNG at most 600 px wide: a signature needs no more, and the server takes ≤ 256 KiB.
    png() {
      const scale = Math.min(1, 600 / canvas.width);
      const out = h('canvas', { width: Math.round(canvas.width * scale), height: Math.round(canvas.height * scale) });
      out.getContext('2d').drawImage(canvas, 0, 0, out.width, out.height);
      return out.toDataURL('image/png');
    },
  };
}
