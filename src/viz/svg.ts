/**
 * A very small SVG writer: a tree of {@link SvgNode}s serialised to a standalone SVG file. Element and attribute
 * names are checked, text and attribute values are escaped, and numbers are written with at most two decimals,
 * so whatever the data, the output is well-formed XML. No dependencies.
 */
import { HgcError } from '../errors.js';

/** An attribute value: strings are escaped, numbers must be finite (written with at most 2 decimals). */
export type SvgAttrValue = string | number;

/** One element: its name, attributes and children (nested elements or text, which is escaped). */
export interface SvgNode {
  /** Element name, e.g. 'rect'. */
  readonly name: string;
  /** Attributes; undefined values are left out. */
  readonly attrs: Readonly<Record<string, SvgAttrValue | undefined>>;
  /** Child elements and text (text is escaped when serialised). */
  readonly children: readonly (SvgNode | string)[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.:-]*$/;

/** An element; attributes whose value is undefined are left out. */
export function el(name: string, attrs: Record<string, SvgAttrValue | undefined> = {}, ...children: (SvgNode | string)[]): SvgNode {
  if (!NAME.test(name)) throw new HgcError('ARG', `svg: invalid element name ${JSON.stringify(name)}`);
  for (const [k, v] of Object.entries(attrs)) {
    if (!NAME.test(k)) throw new HgcError('ARG', `svg: invalid attribute name ${JSON.stringify(k)} on <${name}>`);
    if (typeof v === 'number' && !Number.isFinite(v)) throw new HgcError('ARG', `svg: attribute ${k} of <${name}> is ${v}, not a finite number`);
  }
  return { name, attrs, children };
}

/** Escapes text for XML content and attribute values (&, <, >, " and '), and drops characters XML forbids. */
export function escapeXml(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '').replace(/[&<>"']/g, (c) => (
    { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' }[c]!));
}

/** A number as an attribute: at most two decimals, no trailing zeros, no '-0'. */
export function formatNumber(v: number): string {
  const r = Math.round(v * 100) / 100;
  return Object.is(r, -0) ? '0' : String(r);
}

function serializeNode(node: SvgNode, out: string[], indent: string): void {
  const attrs = Object.entries(node.attrs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${typeof v === 'number' ? formatNumber(v) : escapeXml(v!)}"`).join('');
  if (node.children.length === 0) {
    out.push(`${indent}<${node.name}${attrs}/>`);
  } else if (node.children.every((c) => typeof c === 'string')) {
    out.push(`${indent}<${node.name}${attrs}>${(node.children as string[]).map(escapeXml).join('')}</${node.name}>`);
  } else {
    out.push(`${indent}<${node.name}${attrs}>`);
    for (const c of node.children) {
      if (typeof c === 'string') out.push(`${indent}  ${escapeXml(c)}`);
      else serializeNode(c, out, `${indent}  `);
    }
    out.push(`${indent}</${node.name}>`);
  }
}

/** Options of {@link svgDocument}. */
export interface SvgDocumentOptions {
  /** The document title (an accessible name, shown as a tooltip by viewers). */
  title?: string;
  /** Background colour (default white). */
  background?: string;
  /** Default font family (default a sans-serif stack). */
  fontFamily?: string;
}

/** The root `<svg>` element of a `width`×`height` picture holding `children`. */
export function svgDocument(width: number, height: number, children: readonly SvgNode[], opts: SvgDocumentOptions = {}): SvgNode {
  if (!(width > 0 && height > 0)) throw new HgcError('ARG', `svg: width and height must be positive, got ${width}×${height}`);
  const head: SvgNode[] = [];
  if (opts.title !== undefined) head.push(el('title', {}, opts.title));
  head.push(el('rect', { x: 0, y: 0, width, height, fill: opts.background ?? '#ffffff' }));
  return el('svg', {
    xmlns: 'http://www.w3.org/2000/svg', width, height, viewBox: `0 0 ${formatNumber(width)} ${formatNumber(height)}`,
    'font-family': opts.fontFamily ?? 'Helvetica, Arial, sans-serif', 'font-size': 12,
  }, ...head, ...children);
}

/** The SVG file text of a root node (an XML declaration, then the tree, indented). */
export function serializeSvg(root: SvgNode): string {
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  serializeNode(root, out, '');
  return `${out.join('\n')}\n`;
}
