// A live training plot on a canvas, no dependency: training and validation loss against epochs (left axis, from 0
// to the largest loss seen), validation accuracy (right axis, 0 to 100%).
import type { HeadEpoch } from '@tensorzoo/nemotron';

const SERIES = [
  { key: 'loss', label: 'train loss', color: '#3b6fd8', axis: 'loss' },
  { key: 'valLoss', label: 'val loss', color: '#e07b24', axis: 'loss' },
  { key: 'valScore', label: 'val accuracy', color: '#2e9e5b', axis: 'acc' },
] as const;

/** Draws `history` on `canvas` with the x axis spanning `epochs` epochs. */
export function drawTrainingPlot(canvas: HTMLCanvasElement, history: readonly HeadEpoch[], epochs: number): void {
  const ctx = canvas.getContext('2d')!;
  const { width: w, height: h } = canvas;
  const pad = { l: 44, r: 48, t: 26, b: 28 };
  const pw = w - pad.l - pad.r;
  const ph = h - pad.t - pad.b;
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, w, h);
  ctx.font = '11px system-ui, sans-serif';
  ctx.strokeStyle = '#d5dae3';
  ctx.fillStyle = '#5b6475';
  ctx.lineWidth = 1;
  const maxLoss = Math.max(1e-6, ...history.flatMap((e) => [e.loss, e.valLoss]));
  for (let i = 0; i <= 4; i++) {
    const y = pad.t + (ph * i) / 4;
    ctx.beginPath();
    ctx.moveTo(pad.l, y);
    ctx.lineTo(pad.l + pw, y);
    ctx.stroke();
    ctx.textAlign = 'right';
    ctx.fillText((maxLoss * (1 - i / 4)).toFixed(2), pad.l - 6, y + 4);
    ctx.textAlign = 'left';
    ctx.fillText(`${100 - i * 25}%`, pad.l + pw + 6, y + 4);
  }
  ctx.textAlign = 'center';
  const span = Math.max(1, epochs - 1);
  for (let e = 0; e < epochs; e += Math.max(1, Math.ceil(epochs / 10))) ctx.fillText(String(e + 1), pad.l + (pw * e) / span, h - pad.b + 16);
  const x = (epoch: number) => pad.l + (pw * epoch) / span;
  for (const s of SERIES) {
    const y = (e: HeadEpoch) => pad.t + ph * (1 - e[s.key] / (s.axis === 'loss' ? maxLoss : 1));
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    history.forEach((e, i) => (i ? ctx.lineTo(x(e.epoch), y(e)) : ctx.moveTo(x(e.epoch), y(e))));
    ctx.stroke();
    if (history.length === 1) ctx.fillRect(x(history[0]!.epoch) - 2, y(history[0]!) - 2, 4, 4);
  }
  ctx.textAlign = 'left';
  let lx = pad.l;
  for (const s of SERIES) {
    ctx.fillStyle = s.color;
    ctx.fillRect(lx, 8, 14, 3);
    ctx.fillStyle = '#1d2330';
    ctx.fillText(s.label, lx + 18, 14);
    lx += 26 + ctx.measureText(s.label).width;
  }
}
