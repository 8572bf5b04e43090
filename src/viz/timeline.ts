/**
 * The step timeline chart: one row per cache policy, one column per denoising step, each cell showing how the
 * UNet ran (all of it, a shallow part on cached deep features, or the decoder on cached encoder outputs), whether
 * the step kept classifier-free guidance (batch 2) or was gated to batch 1, whether the ControlNet ran or its
 * residuals were reused, and whether cross-attention was replayed.
 */
import { HgcError } from '../errors.js';
import { type SvgNode, el, serializeSvg, svgDocument } from './svg.js';

/** What one step of a generation computed. */
export interface TimelineStep {
  /** 'full': the whole UNet; 'shallow': only its shallow part on cached deep features; 'decoder': only its decoder. */
  unet: 'full' | 'shallow' | 'decoder';
  /** True: batch 2 with guidance; false: gated to batch 1 (or a generation without CFG). */
  cfg: boolean;
  /** True when the ControlNet ran; false when its residuals from an earlier step were reused. */
  controlnet: boolean;
  /** How the cross-attention layers that ran worked (default 'compute'). */
  attention?: 'compute' | 'capture' | 'replay' | 'fused';
}

/** One row of the chart. */
export interface TimelineRow {
  /** Printed left of the row (e.g. the policy spec). */
  label: string;
  /** One entry per denoising step. */
  steps: readonly TimelineStep[];
  /** Text printed after the row (e.g. its MACs). */
  note?: string;
}

/** Options of {@link stepTimelineSvg}. */
export interface TimelineOptions {
  /** Heading of the chart (also the document title). */
  title?: string;
}

const COLOURS = { full: '#1f4e9c', shallow: '#9cbce8', decoder: '#4fae9b', controlnet: '#e8871e', reused: '#e4e4e4', text: '#222222' };
const CELL = 22, GAP = 2, UNET_H = 20, CN_H = 6, ROW_H = UNET_H + CN_H + 10;
/** Rough width of a character at 12 px (for layout only; SVG has no text measurement). */
const CHAR_W = 6.6;

function cell(x: number, y: number, s: TimelineStep, index: number): SvgNode[] {
  const parts: SvgNode[] = [];
  const tip = `step ${index}: UNet ${s.unet}, ${s.cfg ? 'CFG (batch 2)' : 'gated (batch 1)'}, ControlNet ${s.controlnet ? 'ran' : 'reused'}` +
    (s.attention && s.attention !== 'compute' ? `, cross-attention ${s.attention}` : '');
  parts.push(el('rect', { x, y, width: CELL, height: UNET_H, fill: COLOURS[s.unet] }, el('title', {}, tip)));
  if (!s.cfg) parts.push(el('rect', { x, y, width: CELL, height: UNET_H, fill: 'url(#gated)' }));
  if (s.attention === 'replay' || s.attention === 'fused') {
    parts.push(el('circle', { cx: x + CELL / 2, cy: y + UNET_H / 2, r: 3, fill: '#ffffff', stroke: '#222222', 'stroke-width': 0.8 }));
  }
  parts.push(el('rect', {
    x, y: y + UNET_H + 2, width: CELL, height: CN_H, fill: s.controlnet ? COLOURS.controlnet : COLOURS.reused,
  }));
  return parts;
}

function legend(x: number, y: number): SvgNode[] {
  const items: [string, SvgNode][] = [
    ['UNet full', el('rect', { width: 14, height: 12, fill: COLOURS.full })],
    ['UNet shallow (cached deep features)', el('rect', { width: 14, height: 12, fill: COLOURS.shallow })],
    ['UNet decoder only (cached encoder)', el('rect', { width: 14, height: 12, fill: COLOURS.decoder })],
    ['CFG gated (batch 1)', el('g', {}, el('rect', { width: 14, height: 12, fill: COLOURS.full }), el('rect', { width: 14, height: 12, fill: 'url(#gated)' }))],
    ['cross-attention replayed or fused', el('g', {}, el('rect', { width: 14, height: 12, fill: COLOURS.full }),
      el('circle', { cx: 7, cy: 6, r: 3, fill: '#ffffff', stroke: '#222222', 'stroke-width': 0.8 }))],
    ['ControlNet ran', el('rect', { y: 4, width: 14, height: 5, fill: COLOURS.controlnet })],
    ['ControlNet reused', el('rect', { y: 4, width: 14, height: 5, fill: COLOURS.reused })],
  ];
  const nodes: SvgNode[] = [];
  let cx = x, cy = y;
  for (const [text, swatch] of items) {
    const w = 22 + text.length * CHAR_W + 16;
    if (cx + w > x + 760 && cx > x) {
      cx = x;
      cy += 18;
    }
    nodes.push(el('g', { transform: `translate(${cx},${cy})` }, swatch, el('text', { x: 20, y: 10, fill: COLOURS.text }, text)));
    cx += w;
  }
  return nodes;
}

/** The chart as an SVG root node. Every row must have at least one step. */
export function stepTimelineChart(rows: readonly TimelineRow[], opts: TimelineOptions = {}): SvgNode {
  if (rows.length === 0) throw new HgcError('ARG', 'stepTimelineChart: no rows');
  for (const r of rows) {
    if (r.steps.length === 0) throw new HgcError('ARG', `stepTimelineChart: row ${JSON.stringify(r.label)} has no steps`);
  }
  const steps = Math.max(...rows.map((r) => r.steps.length));
  const labelW = Math.max(...rows.map((r) => r.label.length)) * CHAR_W + 16;
  const noteW = Math.max(0, ...rows.map((r) => (r.note ?? '').length)) * CHAR_W + 16;
  const top = (opts.title ? 30 : 8) + 16;
  const gridW = steps * (CELL + GAP);
  const width = Math.max(labelW + gridW + noteW + 16, 800);
  const nodes: SvgNode[] = [];
  nodes.push(el('defs', {}, el('pattern', { id: 'gated', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
    el('rect', { width: 3, height: 6, fill: '#ffffff', 'fill-opacity': 0.75 }))));
  if (opts.title) nodes.push(el('text', { x: 8, y: 20, 'font-size': 15, 'font-weight': 'bold', fill: COLOURS.text }, opts.title));
  for (let i = 0; i < steps; i++) {
    nodes.push(el('text', { x: labelW + i * (CELL + GAP) + CELL / 2, y: top - 4, 'font-size': 9, 'text-anchor': 'middle', fill: '#666666' }, String(i)));
  }
  rows.forEach((r, k) => {
    const y = top + k * ROW_H;
    nodes.push(el('text', { x: labelW - 8, y: y + 15, 'text-anchor': 'end', fill: COLOURS.text }, r.label));
    r.steps.forEach((s, i) => nodes.push(...cell(labelW + i * (CELL + GAP), y, s, i)));
    if (r.note) nodes.push(el('text', { x: labelW + gridW + 8, y: y + 15, fill: COLOURS.text }, r.note));
  });
  const legendY = top + rows.length * ROW_H + 10;
  nodes.push(el('text', { x: labelW, y: legendY, 'font-size': 10, fill: '#666666' }, 'denoising step →'));
  nodes.push(...legend(8, legendY + 12));
  return svgDocument(width, legendY + 12 + 18 * 2 + 8, nodes, { title: opts.title ?? 'Step timeline per cache policy' });
}

/** The chart as SVG file text. */
export function stepTimelineSvg(rows: readonly TimelineRow[], opts: TimelineOptions = {}): string {
  return serializeSvg(stepTimelineChart(rows, opts));
}
