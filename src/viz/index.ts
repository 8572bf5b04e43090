/** Charts as standalone SVG files (no dependencies): the step timeline of cache policies and quality against MACs. */
export { el, escapeXml, formatNumber, serializeSvg, svgDocument, type SvgAttrValue, type SvgDocumentOptions, type SvgNode } from './svg.js';
export { stepTimelineChart, stepTimelineSvg, type TimelineOptions, type TimelineRow, type TimelineStep } from './timeline.js';
export {
  niceTicks, TOY_QUALITY_PANELS, type QualityChartOptions, type QualityPanel, type QualityPoint, qualityVsMacsChart, qualityVsMacsSvg,
} from './quality-chart.js';
export { type PolicyTrace, tracePolicy } from './policy-timeline.js';
