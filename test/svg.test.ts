// The SVG writer and the charts: well-formed XML whatever the text, the expected structure, and the policy
// timelines traced on the meta device.
import t from 'tap';

import { cache, viz } from '../dist/src/index.js';
import { allElements, parseXml } from './helpers/xml';

t.test('writer: escaping, numbers, names', async (t) => {
  const doc = viz.svgDocument(100, 50, [
    viz.el('text', { x: 1.23456, y: -0.001, 'data-note': 'a "quoted" <b> & \'c\'' }, 'x < y & z > w \u0001'),
    viz.el('g', {}, viz.el('rect', { width: 3, height: undefined }), 'mixed text'),
  ], { title: 'T & <T>' });
  const text = viz.serializeSvg(doc);
  const root = parseXml(text);
  t.equal(root.name, 'svg');
  t.equal(root.attrs.xmlns, 'http://www.w3.org/2000/svg');
  t.equal(root.attrs.viewBox, '0 0 100 50');
  const els = allElements(root);
  const title = els.find((e) => e.name === 'title')!;
  t.equal(title.text, 'T & <T>', 'title text round-trips');
  const txt = els.find((e) => e.name === 'text')!;
  t.equal(txt.text, 'x < y & z > w ', 'text escaped, control character dropped');
  t.equal(txt.attrs['data-note'], 'a "quoted" <b> & \'c\'');
  t.equal(txt.attrs.x, '1.23');
  t.equal(txt.attrs.y, '0', 'no -0');
  const rect = els.filter((e) => e.name === 'rect')[1]!;
  t.notOk('height' in rect.attrs, 'undefined attributes are left out');
  t.equal(viz.formatNumber(2.5), '2.5');
  t.equal(viz.escapeXml('<&>"\''), '&lt;&amp;&gt;&quot;&apos;');
  t.throws(() => viz.el('bad name'), { name: 'HgcError', code: 'ARG' });
  t.throws(() => viz.el('rect', { 'x y': 1 }), { name: 'HgcError', code: 'ARG' });
  t.throws(() => viz.el('rect', { x: NaN }), { name: 'HgcError', code: 'ARG' });
  t.throws(() => viz.svgDocument(0, 10, []), { name: 'HgcError', code: 'ARG' });
  t.throws(() => parseXml('<a><b></a>'), /closes/, 'the checker itself rejects bad nesting');
  t.throws(() => parseXml('<a x="1" x="2"/>'), /duplicate/);
  t.throws(() => parseXml('<a>&nbsp;</a>'), /entity/);
});

t.test('step timeline: one cell per step and row, gated cells hatched, legend', async (t) => {
  const rows = [
    { label: 'a <policy>', steps: [{ unet: 'full', cfg: true, controlnet: true }, { unet: 'shallow', cfg: false, controlnet: false, attention: 'replay' }], note: '1 T' },
    { label: 'b', steps: [{ unet: 'decoder', cfg: true, controlnet: false }] },
  ] as const;
  const root = parseXml(viz.stepTimelineSvg(rows as unknown as viz.TimelineRow[], { title: 'Timeline & more' }));
  const els = allElements(root);
  const cells = els.filter((e) => e.name === 'rect' && e.children.some((c) => c.name === 'title'));
  t.equal(cells.length, 3, 'one UNet cell per step');
  t.match(cells[1]!.children[0]!.text, /step 1: UNet shallow, gated \(batch 1\), ControlNet reused, cross-attention replay/);
  t.equal(cells[0]!.attrs.fill, '#1f4e9c');
  t.ok(els.some((e) => e.name === 'pattern' && e.attrs.id === 'gated'), 'hatch pattern defined');
  t.equal(els.filter((e) => e.name === 'rect' && e.attrs.fill === 'url(#gated)').length, 2, 'the gated step and the legend swatch');
  const texts = els.filter((e) => e.name === 'text').map((e) => e.text);
  for (const s of ['a <policy>', 'b', '1 T', 'UNet full', 'ControlNet reused', 'Timeline & more']) t.ok(texts.includes(s), `text ${s}`);
  t.throws(() => viz.stepTimelineChart([]), { name: 'HgcError', code: 'ARG' });
  t.throws(() => viz.stepTimelineChart([{ label: 'x', steps: [] }]), { name: 'HgcError', code: 'ARG' });
});

t.test('traced timelines of the shipped policies (SD1.5 on the meta device)', async (t) => {
  const hgc = viz.tracePolicy(cache.hgc());
  t.equal(hgc.steps.length, 20);
  const full = hgc.steps.flatMap((s, i) => (s.unet === 'full' ? [i] : []));
  t.same(full, [0, 3, 6, 10, 14, 18], 'the default full steps');
  t.same(hgc.steps.flatMap((s, i) => (s.controlnet ? [i] : [])), full, 'ControlNet runs on full steps only');
  t.ok(hgc.steps.every((s) => s.cfg), 'no gate by default');
  t.equal(Math.round(hgc.counter.total() / 1e10) / 100, 6.71, 'MACs as runMacs counts them');
  const tg = viz.tracePolicy(cache.tgate({ gateStep: 10 }));
  t.same(tg.steps.map((s) => s.cfg), Array.from({ length: 20 }, (_, i) => i < 10), 'T-GATE drops CFG from step 10');
  const fd = viz.tracePolicy(cache.fasterDiffusion());
  t.ok(fd.steps.some((s) => s.unet === 'decoder') && fd.steps.every((s) => (s.unet === 'decoder') === !s.controlnet), 'decoder-only steps skip C');
  const un = viz.tracePolicy(undefined, { steps: 4, guidance: 1 });
  t.same(un.steps, Array.from({ length: 4 }, () => ({ unet: 'full', cfg: false, attention: 'compute', controlnet: true })), 'uncached, no CFG');
});

t.test('quality against MACs: panels, markers, legend, ticks', async (t) => {
  const points = [
    { label: 'uncached', macsRatio: 1, metrics: { miou: 0.23, miouVsRef: 1, psnr: NaN } },
    { label: 'hgc', macsRatio: 0.36, metrics: { miou: 0.22, miouVsRef: 0.83, psnr: 28 } },
    { label: 'tgate', macsRatio: 0.54, metrics: { miou: 0.234, miouVsRef: 0.77, psnr: 24 } },
  ];
  const root = parseXml(viz.qualityVsMacsSvg(points, viz.TOY_QUALITY_PANELS, { title: 'Q' }));
  const els = allElements(root);
  const panels = root.children.filter((e) => e.name === 'g' && /^translate/.test(e.attrs.transform ?? ''));
  t.equal(panels.length, 3, 'one panel per metric');
  const pointsIn = (p: typeof panels[number]) => p.children.filter((e) => e.name === 'g' && e.children[0]?.name === 'title');
  t.same(panels.map((p) => pointsIn(p).length), [3, 3, 2], 'NaN values are left out');
  t.match(pointsIn(panels[0]!)[1]!.children[0]!.text, /^hgc: 36% MACs, miou 0.22$/);
  const texts = els.filter((e) => e.name === 'text').map((e) => e.text);
  for (const s of ['uncached', 'hgc', 'tgate', '100%', 'mIoU vs control mask']) t.ok(texts.includes(s), `text ${s}`);
  t.same(viz.niceTicks(0, 1), [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1].map((v) => Math.round(v / 0.2) * 0.2));
  t.same(viz.niceTicks(0.21, 0.24), [0.21, 0.22, 0.23, 0.24].map((v) => Math.round(v / 0.01) * 0.01));
  t.same(viz.niceTicks(3, 3), [3]);
  t.throws(() => viz.niceTicks(0, Infinity), { name: 'HgcError', code: 'ARG' });
  t.throws(() => viz.qualityVsMacsChart([], viz.TOY_QUALITY_PANELS), { name: 'HgcError', code: 'ARG' });
  t.throws(() => viz.qualityVsMacsChart(points, []), { name: 'HgcError', code: 'ARG' });
  t.throws(() => viz.qualityVsMacsChart([{ label: 'x', macsRatio: -1, metrics: {} }], viz.TOY_QUALITY_PANELS), { name: 'HgcError', code: 'ARG' });
  t.throws(() => viz.qualityVsMacsChart(points, [{ metric: 'nope', title: 'n' }]), { name: 'HgcError', code: 'ARG' });
});
