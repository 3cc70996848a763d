// A small line chart on a canvas: a fixed window of recent points per series, auto-scaled y axis.
import { el } from './dom.js';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const POINTS = 90;

export class LineChart {
  constructor(title, unit) {
    this.unit = unit;
    this.series = new Map();
    this.canvas = el('canvas', { width: 420, height: 160 });
    this.legend = el('div', { className: 'legend' });
    this.node = el('figure', { className: 'chart' }, el('figcaption', {}, title), this.canvas, this.legend);
  }

  push(name, value) {
    let s = this.series.get(name);
    if (!s) {
      s = { color: COLORS[this.series.size % COLORS.length], points: [] };
      this.series.set(name, s);
    }
    s.points.push(value);
    if (s.points.length > POINTS) s.points.shift();
  }

  draw() {
    const { canvas } = this;
    const ctx = canvas.getContext('2d');
    const w = canvas.width;
    const h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    let max = 0;
    for (const s of this.series.values()) for (const v of s.points) if (Number.isFinite(v)) max = Math.max(max, v);
    if (max === 0) max = 1;
    ctx.strokeStyle = '#8886';
    ctx.beginPath();
    ctx.moveTo(0, h - 0.5);
    ctx.lineTo(w, h - 0.5);
    ctx.stroke();
    ctx.fillStyle = '#888';
    ctx.font = '11px sans-serif';
    ctx.fillText(`${format(max)} ${this.unit}`.trim(), 4, 12);
    const legend = [];
    for (const [name, s] of this.series) {
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      s.points.forEach((v, i) => {
        const x = (w * (POINTS - s.points.length + i)) / (POINTS - 1);
        const y = h - 2 - ((h - 18) * (Number.isFinite(v) ? v : 0)) / max;
        if (i === 0) ctx.moveTo(x, y);
        else ctx.lineTo(x, y);
      });
      ctx.stroke();
      const last = s.points[s.points.length - 1];
      const item = el('span', {}, `${name}: ${format(last)}`);
      item.style.color = s.color;
      legend.push(item);
    }
    this.legend.replaceChildren(...legend);
  }
}

function format(v) {
  if (!Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toFixed(1)}G`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  if (a >= 1 || a === 0) return v.toFixed(a >= 100 || a === 0 ? 0 : 1);
  return v.toPrecision(2);
}
