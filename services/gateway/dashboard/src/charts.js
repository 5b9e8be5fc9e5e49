// The room page's ECharts: four charts on one shared time axis (x = window `start`, ms), each
// shading the windows whose coverage was not complete with a markArea. Series are named by
// the WindowSummary field they plot (`online_count`, `gift_cny`, …); legends and tooltips show
// the translated label. Also a tiny SVG sparkline for the overview cards.
import * as echarts from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import { GridComponent, LegendComponent, MarkAreaComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import { h } from './dom.js';
import { count, dateTime, mcny } from './format.js';
import { t } from './i18n.js';
import { chattersApprox, cny, coverageIssue } from './store.js';

echarts.use([
  LineChart,
  BarChart,
  GridComponent,
  LegendComponent,
  MarkAreaComponent,
  TooltipComponent,
  CanvasRenderer,
]);

const GROUP = 'bilipulse-room';
const orNull = (v) => (Number.isFinite(v) ? v : null);

export const CHARTS = [
  {
    id: 'audience',
    title: 'chart_audience',
    axes: ['online_count', 'chatters'],
    series: [
      // Audience counters are levels reported every few seconds, absent from the windows in
      // between: the line joins the reports instead of showing isolated dots.
      { name: 'online_count', type: 'line', axis: 0, gauge: true, y: (s) => orNull(s.online_count) },
      { name: 'online_rank', type: 'line', axis: 0, gauge: true, y: (s) => orNull(s.online_rank) },
      { name: 'chatters', type: 'line', axis: 1, y: (s) => orNull(s.chatters) },
    ],
  },
  {
    id: 'danmaku',
    title: 'chart_danmaku',
    axes: ['danmaku'],
    series: [{ name: 'danmaku', type: 'bar', axis: 0, y: (s) => orNull(s.danmaku) ?? 0 }],
  },
  {
    id: 'revenue',
    title: 'chart_revenue',
    axes: ['chart_revenue'],
    money: true,
    series: [
      { name: 'gift_cny', type: 'bar', stack: 'cny', axis: 0, y: (s) => cny(s, 'gift_cny') },
      { name: 'superchat_cny', type: 'bar', stack: 'cny', axis: 0, y: (s) => cny(s, 'superchat_cny') },
      { name: 'guard_cny', type: 'bar', stack: 'cny', axis: 0, y: (s) => cny(s, 'guard_cny') },
    ],
  },
  {
    id: 'engagement',
    title: 'chart_engagement',
    axes: ['count'],
    series: [
      { name: 'enters', type: 'line', axis: 0, y: (s) => orNull(s.enters) ?? 0 },
      { name: 'follows', type: 'line', axis: 0, y: (s) => orNull(s.follows) ?? 0 },
      { name: 'likes', type: 'line', axis: 0, y: (s) => orNull(s.likes) ?? 0 },
    ],
  },
];

const SHADE = {
  masked: 'rgba(250, 200, 88, 0.16)',
  disconnected: 'rgba(238, 102, 102, 0.22)',
  incomplete: 'rgba(180, 180, 200, 0.16)',
};

/** Consecutive windows with the same coverage issue as markArea pairs. */
function coverageAreas(summaries) {
  const areas = [];
  let cur = null;
  for (const s of summaries) {
    const issue = coverageIssue(s);
    if (issue && cur && cur.issue === issue && cur.end >= s.start) {
      cur.end = s.end;
    } else if (issue) {
      cur = { issue, start: s.start, end: s.end };
      areas.push(cur);
    } else {
      cur = null;
    }
  }
  return areas.map((a) => [
    { xAxis: a.start, name: a.issue, itemStyle: { color: SHADE[a.issue] } },
    { xAxis: a.end },
  ]);
}

/** All four charts of a room page inside `container`; `.update(...)` redraws them. */
export class RoomCharts {
  constructor(container) {
    this.instances = new Map(); // chart id -> {def, chart, empty, title, byStart}
    for (const def of CHARTS) {
      const title = h('h3', {}, t(def.title));
      const box = h('div', { id: def.id, class: 'chart' });
      const empty = h('div', { class: 'chart-empty' }, t('no_data'));
      container.append(
        h('section', { class: 'chart-card' }, title, h('div', { class: 'chart-wrap' }, box, empty)),
      );
      const chart = echarts.init(box, 'dark', { renderer: 'canvas' });
      chart.group = GROUP;
      const inst = { def, chart, empty, title, byStart: new Map() };
      chart.setOption(this.baseOption(inst));
      this.instances.set(def.id, inst);
    }
    echarts.connect(GROUP);
    this.onResize = () => {
      for (const { chart } of this.instances.values()) chart.resize();
    };
    window.addEventListener('resize', this.onResize);
  }

  baseOption(inst) {
    const { def } = inst;
    const yFmt = def.money ? (v) => `¥${v}` : undefined;
    return {
      backgroundColor: 'transparent',
      animation: false,
      grid: { left: 56, right: def.axes.length > 1 ? 56 : 20, top: 34, bottom: 28 },
      legend: { top: 2, formatter: (name) => t(name) },
      tooltip: { trigger: 'axis', formatter: (params) => this.tooltip(inst, params) },
      // Numeric templates: no month names, so no dependence on ECharts' locale.
      xAxis: {
        type: 'time',
        axisLabel: {
          hideOverlap: true,
          formatter: {
            year: '{yyyy}',
            month: '{MM}-{dd}',
            day: '{MM}-{dd}',
            hour: '{HH}:{mm}',
            minute: '{HH}:{mm}',
            second: '{HH}:{mm}:{ss}',
            millisecond: '{HH}:{mm}:{ss}',
            none: '{HH}:{mm}:{ss}',
          },
        },
      },
      yAxis: def.axes.map((name, i) => ({
        type: 'value',
        name: i > 0 ? t(name) : undefined,
        minInterval: def.money ? undefined : 1,
        splitLine: { show: i === 0 },
        axisLabel: { formatter: yFmt },
      })),
      series: def.series.map((s) => ({
        id: s.name,
        name: s.name,
        type: s.type,
        stack: s.stack,
        yAxisIndex: s.axis,
        showSymbol: false,
        connectNulls: Boolean(s.gauge),
        data: [],
        ...(s.type === 'bar' ? { barMaxWidth: 14 } : {}),
      })),
    };
  }

  tooltip(inst, params) {
    const list = Array.isArray(params) ? params : [params];
    if (!list.length) return '';
    const x = Array.isArray(list[0].value) ? list[0].value[0] : list[0].axisValue;
    const s = inst.byStart.get(x);
    const rows = [`<b>${dateTime(x)}</b>`];
    for (const p of list) {
      const y = Array.isArray(p.value) ? p.value[1] : p.value;
      let v = inst.def.money ? mcny(Math.round(y * 1000)) : count(y);
      if (p.seriesName === 'chatters' && s && chattersApprox(s)) v = `≈${v}`;
      rows.push(`${p.marker}${t(p.seriesName)}: ${v}`);
    }
    const issue = s && coverageIssue(s);
    if (issue) rows.push(`<i>${t(`cov_${issue}`)}</i>`);
    return rows.join('<br>');
  }

  /** Redraws every chart with `summaries` (oldest first) on the x range [xMin, xMax]. */
  update(summaries, xMin, xMax) {
    const areas = coverageAreas(summaries);
    for (const inst of this.instances.values()) {
      inst.byStart = new Map(summaries.map((s) => [s.start, s]));
      inst.empty.hidden = summaries.length > 0;
      inst.chart.setOption({
        xAxis: { min: xMin, max: xMax },
        series: inst.def.series.map((def, i) => ({
          id: def.name,
          data: summaries.map((s) => [s.start, def.y(s)]),
          markArea: i === 0 ? { silent: true, label: { show: false }, data: areas } : undefined,
        })),
      });
    }
  }

  relabel() {
    for (const inst of this.instances.values()) {
      inst.title.textContent = t(inst.def.title);
      inst.empty.textContent = t('no_data');
      inst.chart.setOption({
        legend: { formatter: (name) => t(name) },
        yAxis: inst.def.axes.map((name, i) => ({ name: i > 0 ? t(name) : undefined })),
      });
    }
  }

  /** [[x, y], …] of a series, read back from the ECharts instance. */
  series(chartId, name) {
    const inst = this.instances.get(chartId);
    if (!inst) return null;
    const s = (inst.chart.getOption().series ?? []).find((x) => x.id === name || x.name === name);
    if (!s) return null;
    return (s.data ?? []).map((d) =>
      Array.isArray(d) ? [d[0], d[1]] : Array.isArray(d?.value) ? d.value.slice(0, 2) : d,
    );
  }

  dispose() {
    window.removeEventListener('resize', this.onResize);
    for (const { chart } of this.instances.values()) chart.dispose();
    this.instances.clear();
  }
}

/** An SVG polyline of `values` (nulls as 0), scaled to its own maximum. */
export function sparkline(values, width = 220, height = 36) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  svg.setAttribute('class', 'spark');
  svg.setAttribute('preserveAspectRatio', 'none');
  if (values.length < 2) return svg;
  const max = Math.max(1, ...values.map((v) => v ?? 0));
  const step = width / (values.length - 1);
  const pts = values.map(
    (v, i) => `${(i * step).toFixed(1)},${(height - 2 - ((v ?? 0) / max) * (height - 4)).toFixed(1)}`,
  );
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', pts.join(' '));
  svg.append(line);
  return svg;
}
