/**
 * Quality against MACs: one scatter panel per metric (e.g. mIoU against the control masks, and fidelity to the
 * uncached run), x = the policy's MACs as a share of the uncached run, one coloured marker per policy, with a
 * shared legend. Points further up and to the left are better.
 */
import { HgcError } from '../errors.js';
import { type SvgNode, el, formatNumber, serializeSvg, svgDocument } from './svg.js';

/** One policy's point: its MACs as a share of the uncached run (0..1+) and its metric values by key. */
export interface QualityPoint {
  /** The policy's name in the legend. */
  label: string;
  /** MACs as a share of the uncached run (1 = the uncached run). */
  macsRatio: number;
  /** Metric values by key ({@link QualityPanel.metric}); non-finite values are left out of the panel. */
  metrics: Readonly<Record<string, number>>;
}

/** One panel: which metric it plots and how it is titled. */
export interface QualityPanel {
  /** Key into {@link QualityPoint.metrics}. */
  metric: string;
  /** Heading of the panel. */
  title: string;
  /** y-axis label (default the title). */
  yLabel?: string;
}

/** Options of {@link qualityVsMacsChart}. */
export interface QualityChartOptions {
  /** Heading of the chart (also the document title). */
  title?: string;
  /** x-axis label (default 'MACs, share of the uncached run'). */
  xLabel?: string;
}

const PALETTE = ['#222222', '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f', '#393b79'];
const PANEL_W = 380, PANEL_H = 280, MARGIN = { left: 58, right: 16, top: 30, bottom: 44 };
const CHAR_W = 6.6;

/** About five round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(Number.isFinite(lo) && Number.isFinite(hi))) throw new HgcError('ARG', `niceTicks: bounds must be finite, got ${lo}, ${hi}`);
  if (hi <= lo) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) ticks.push(Math.round(v / step) * step);
  return ticks;
}

function marker(k: number, x: number, y: number, colour: string): SvgNode {
  const shape = k % 3;
  if (shape === 0) return el('circle', { cx: x, cy: y, r: 5, fill: colour });
  if (shape === 1) return el('rect', { x: x - 4.5, y: y - 4.5, width: 9, height: 9, fill: colour });
  return el('path', { d: `M${formatNumber(x)},${formatNumber(y - 6)} L${formatNumber(x + 5.5)},${formatNumber(y + 4)} L${formatNumber(x - 5.5)},${formatNumber(y + 4)} Z`, fill: colour });
}

function panel(points: readonly QualityPoint[], p: QualityPanel, ox: number, oy: number, xLabel: string): SvgNode {
  const values = points.map((q) => q.metrics[p.metric]).filter((v): v is number => v !== undefined && Number.isFinite(v));
  if (values.length === 0) throw new HgcError('ARG', `qualityVsMacsChart: no point has a finite value of metric ${JSON.stringify(p.metric)}`);
  let lo = Math.min(...values), hi = Math.max(...values);
  const pad = (hi - lo) * 0.1 || Math.abs(hi) * 0.05 || 0.05;
  lo -= pad;
  hi += pad;
  const xMax = Math.max(1, ...points.map((q) => q.macsRatio)) * 1.05;
  const w = PANEL_W - MARGIN.left - MARGIN.right, h = PANEL_H - MARGIN.top - MARGIN.bottom;
  const sx = (v: number) => MARGIN.left + (v / xMax) * w;
  const sy = (v: number) => MARGIN.top + h - ((v - lo) / (hi - lo)) * h;
  const nodes: SvgNode[] = [el('text', { x: MARGIN.left, y: 18, 'font-weight': 'bold' }, p.title)];
  for (const t of niceTicks(0, xMax)) {
    nodes.push(el('line', { x1: sx(t), y1: MARGIN.top, x2: sx(t), y2: MARGIN.top + h, stroke: '#eeeeee' }));
    nodes.push(el('text', { x: sx(t), y: MARGIN.top + h + 14, 'font-size': 10, 'text-anchor': 'middle' }, `${formatNumber(t * 100)}%`));
  }
  for (const t of niceTicks(lo, hi)) {
    nodes.push(el('line', { x1: MARGIN.left, y1: sy(t), x2: MARGIN.left + w, y2: sy(t), stroke: '#eeeeee' }));
    nodes.push(el('text', { x: MARGIN.left - 6, y: sy(t) + 3, 'font-size': 10, 'text-anchor': 'end' }, String(Number(t.toPrecision(6)))));
  }
  nodes.push(el('rect', { x: MARGIN.left, y: MARGIN.top, width: w, height: h, fill: 'none', stroke: '#888888' }));
  nodes.push(el('text', { x: MARGIN.left + w / 2, y: PANEL_H - 8, 'text-anchor': 'middle', 'font-size': 11 }, xLabel));
  nodes.push(el('text', { x: 14, y: MARGIN.top + h / 2, 'text-anchor': 'middle', 'font-size': 11, transform: `rotate(-90 14 ${formatNumber(MARGIN.top + h / 2)})` },
    p.yLabel ?? p.title));
  points.forEach((q, k) => {
    const v = q.metrics[p.metric];
    if (v === undefined || !Number.isFinite(v)) return;
    nodes.push(el('g', {}, el('title', {}, `${q.label}: ${formatNumber(q.macsRatio * 100)}% MACs, ${p.metric} ${Number(v.toPrecision(4))}`),
      marker(k, sx(q.macsRatio), sy(v), PALETTE[k % PALETTE.length]!)));
  });
  return el('g', { transform: `translate(${ox},${oy})` }, ...nodes);
}

/** The chart as an SVG root node. */
export function qualityVsMacsChart(points: readonly QualityPoint[], panels: readonly QualityPanel[], opts: QualityChartOptions = {}): SvgNode {
  if (points.length === 0) throw new HgcError('ARG', 'qualityVsMacsChart: no points');
  if (panels.length === 0) throw new HgcError('ARG', 'qualityVsMacsChart: no panels');
  for (const q of points) {
    if (!(Number.isFinite(q.macsRatio) && q.macsRatio >= 0)) {
      throw new HgcError('ARG', `qualityVsMacsChart: ${JSON.stringify(q.label)} has MACs ratio ${q.macsRatio}, expected a finite number ≥ 0`);
    }
  }
  const top = opts.title ? 32 : 6;
  const xLabel = opts.xLabel ?? 'MACs, share of the uncached run';
  const nodes: SvgNode[] = [];
  if (opts.title) nodes.push(el('text', { x: 10, y: 22, 'font-size': 15, 'font-weight': 'bold' }, opts.title));
  panels.forEach((p, i) => nodes.push(panel(points, p, i * PANEL_W, top, xLabel)));
  const width = Math.max(panels.length * PANEL_W, 400);
  // Legend: one line per policy, in columns.
  const colW = Math.max(...points.map((q) => q.label.length)) * CHAR_W + 30;
  const perRow = Math.max(1, Math.floor((width - 20) / colW));
  points.forEach((q, k) => {
    const x = 14 + (k % perRow) * colW, y = top + PANEL_H + 14 + Math.floor(k / perRow) * 18;
    nodes.push(marker(k, x, y - 4, PALETTE[k % PALETTE.length]!));
    nodes.push(el('text', { x: x + 12, y }, q.label));
  });
  const height = top + PANEL_H + 14 + Math.ceil(points.length / perRow) * 18 + 6;
  return svgDocument(width, height, nodes, { title: opts.title ?? 'Quality against MACs per cache policy' });
}

/** The chart as SVG file text. */
export function qualityVsMacsSvg(points: readonly QualityPoint[], panels: readonly QualityPanel[], opts: QualityChartOptions = {}): string {
  return serializeSvg(qualityVsMacsChart(points, panels, opts));
}

/**
 * The panels used for the toy ControlNet evaluation: mIoU against the control masks (task quality), mIoU with the
 * uncached run's segmentation as ground truth, and PSNR against the uncached images (fidelity). Metric keys:
 * `miou`, `miouVsRef`, `psnr`.
 */
export const TOY_QUALITY_PANELS: readonly QualityPanel[] = Object.freeze([
  { metric: 'miou', title: 'mIoU vs control mask', yLabel: 'mIoU (higher is better)' },
  { metric: 'miouVsRef', title: 'Fidelity: mIoU vs uncached', yLabel: 'mIoU vs the uncached images' },
  { metric: 'psnr', title: 'Fidelity: PSNR vs uncached', yLabel: 'PSNR (dB)' },
]);
