// bench/results/latest.svg, written by hand: saturated throughput of each Sigil scenario against
// its limit (with the target), and the latency percentiles of the one-at-a-time runs on a log axis.
import type { BenchResults, Comparison } from "../results.js";
import { throughputGoal } from "../targets.js";
import { int, ms, percent } from "./format.js";

const WIDTH = 1000;
const LABEL_RIGHT = 240;
const PLOT_LEFT = 250;
const PLOT_WIDTH = 480;
const VALUE_LEFT = PLOT_LEFT + PLOT_WIDTH + 12;
const ROW_HEIGHT = 26;
const PANEL_HEADER = 44;
const AXIS_SPACE = 26;
const COLORS = { limit: "#d0d4da", sigil: "#2f6fd6", target: "#d64545", text: "#222", grid: "#e6e8eb", muted: "#6b7280" };
const PERCENTILES = [
  { key: "p50", label: "p50", color: "#1b5e20" },
  { key: "p90", label: "p90", color: "#5c9d3a" },
  { key: "p99", label: "p99", color: "#e69500" },
  { key: "p999", label: "p99.9", color: "#c62828" },
] as const;

const escape = (content: string): string => content.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const text = (x: number, y: number, content: string, attrs = ""): string =>
  `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${escape(content)}</text>`;
const line = (x1: number, y1: number, x2: number, y2: number, attrs: string): string =>
  `<line x1="${x1.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${x2.toFixed(1)}" y2="${y2.toFixed(1)}" ${attrs}/>`;
const rowLabel = (c: Comparison): string => `${c.run.label} (${c.run.concurrency})`;

/** A round tick step giving at most five intervals up to `max`. */
function niceStep(max: number): number {
  const raw = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * magnitude).find((step) => step >= raw) ?? 10 * magnitude;
}

function throughputPanel(rows: readonly Comparison[], top: number): { svg: string; height: number } {
  const highest = Math.max(1, ...rows.flatMap((c) => [c.limitRequestsPerSecond ?? 0, c.run.okPerSecond ?? 0, throughputGoal(c) ?? 0]));
  const step = niceStep(highest);
  const max = Math.ceil(highest / step) * step;
  const x = (rate: number): number => PLOT_LEFT + (Math.min(rate, max) / max) * PLOT_WIDTH;
  const plotTop = top + PANEL_HEADER;
  const plotBottom = plotTop + rows.length * ROW_HEIGHT;
  const parts = [
    text(20, top + 18, "Saturated throughput, req/s: Sigil (blue) against its limit (grey); red line: target", `font-size="15" font-weight="600"`),
  ];
  for (let rate = 0; rate <= max; rate += step) {
    parts.push(line(x(rate), plotTop, x(rate), plotBottom, `stroke="${COLORS.grid}"`));
    parts.push(text(x(rate), plotBottom + 14, int(rate), `font-size="10" text-anchor="middle" fill="${COLORS.muted}"`));
  }
  rows.forEach((c, i) => {
    const y = plotTop + i * ROW_HEIGHT;
    parts.push(text(LABEL_RIGHT, y + 17, rowLabel(c), `font-size="11" text-anchor="end" fill="${COLORS.text}"`));
    if (c.limitRequestsPerSecond !== undefined) {
      parts.push(`<rect x="${PLOT_LEFT}" y="${y + 3}" width="${(x(c.limitRequestsPerSecond) - PLOT_LEFT).toFixed(1)}" height="${ROW_HEIGHT - 6}" fill="${COLORS.limit}"/>`);
    }
    if (c.run.okPerSecond !== undefined) {
      parts.push(`<rect x="${PLOT_LEFT}" y="${y + 8}" width="${(x(c.run.okPerSecond) - PLOT_LEFT).toFixed(1)}" height="${ROW_HEIGHT - 16}" fill="${COLORS.sigil}"/>`);
    }
    const goal = throughputGoal(c);
    if (goal !== undefined) parts.push(line(x(goal), y + 1, x(goal), y + ROW_HEIGHT - 1, `stroke="${COLORS.target}" stroke-width="2"`));
    const value = c.run.skipped ? "skipped" : `${int(c.run.okPerSecond)} of ${int(c.limitRequestsPerSecond)} (${percent(c.ratio)})`;
    parts.push(text(VALUE_LEFT, y + 17, value, `font-size="11" fill="${COLORS.text}"`));
  });
  return { svg: parts.join("\n"), height: PANEL_HEADER + rows.length * ROW_HEIGHT + AXIS_SPACE };
}

function latencyPanel(rows: readonly Comparison[], top: number): { svg: string; height: number } {
  const values = rows.flatMap((c) => {
    const l = c.run.result?.latencyMs;
    return l ? [l.p50, l.p999, c.limitLatencyMs?.p50 ?? l.p50] : [];
  });
  const low = 10 ** Math.floor(Math.log10(Math.max(0.001, Math.min(...values, 1))));
  const high = 10 ** Math.ceil(Math.log10(Math.max(...values, 1)));
  const span = Math.log10(high) - Math.log10(low);
  const x = (value: number): number => PLOT_LEFT + ((Math.log10(Math.min(high, Math.max(low, value))) - Math.log10(low)) / span) * PLOT_WIDTH;
  const plotTop = top + PANEL_HEADER;
  const plotBottom = plotTop + rows.length * ROW_HEIGHT;
  const parts = [text(20, top + 18, "Latency of one call at a time (1×1), ms, log scale", `font-size="15" font-weight="600"`)];
  const legend = [...PERCENTILES.map((p) => ({ label: p.label, marker: `fill="${p.color}"` })), { label: "limit p50, p99", marker: `fill="none" stroke="#9aa0a6" stroke-width="1.5"` }];
  legend.forEach((entry, i) => {
    const lx = 20 + i * 70;
    parts.push(`<circle cx="${lx + 4}" cy="${top + 32}" r="4" ${entry.marker}/>`, text(lx + 12, top + 36, entry.label, `font-size="10" fill="${COLORS.text}"`));
  });
  for (let decade = low; decade <= high * 1.0001; decade *= 10) {
    for (const multiple of [1, 2, 5]) {
      const value = decade * multiple;
      if (value > high * 1.0001) break;
      parts.push(line(x(value), plotTop, x(value), plotBottom, `stroke="${COLORS.grid}"`));
      parts.push(text(x(value), plotBottom + 14, String(Number(value.toPrecision(2))), `font-size="10" text-anchor="middle" fill="${COLORS.muted}"`));
    }
  }
  rows.forEach((c, i) => {
    const y = plotTop + i * ROW_HEIGHT + ROW_HEIGHT / 2;
    parts.push(text(LABEL_RIGHT, y + 4, c.run.label, `font-size="11" text-anchor="end" fill="${COLORS.text}"`));
    const l = c.run.result?.latencyMs;
    if (!l) return;
    parts.push(line(x(l.p50), y, x(l.p999), y, `stroke="${COLORS.muted}"`));
    for (const limitValue of [c.limitLatencyMs?.p50, c.limitLatencyMs?.p99]) {
      if (limitValue !== undefined) parts.push(`<circle cx="${x(limitValue).toFixed(1)}" cy="${y}" r="5.5" fill="none" stroke="#9aa0a6" stroke-width="1.5"/>`);
    }
    for (const p of PERCENTILES) parts.push(`<circle cx="${x(l[p.key]).toFixed(1)}" cy="${y}" r="4" fill="${p.color}"/>`);
    parts.push(text(VALUE_LEFT, y + 4, `p50 ${ms(l.p50)} · p99 ${ms(l.p99)} · p99.9 ${ms(l.p999)}`, `font-size="11" fill="${COLORS.text}"`));
  });
  return { svg: parts.join("\n"), height: PANEL_HEADER + rows.length * ROW_HEIGHT + AXIS_SPACE };
}

export function renderSvg(results: BenchResults): string {
  const date = results.date.slice(0, 16).replace("T", " ") + " UTC";
  const m = results.machine;
  const title = text(20, 24, `Sigil benchmark (${results.config.mode}) · ${date} · commit ${results.commit} · ${m.cpuModel}, ${m.cores} cores · node ${m.node}`, `font-size="12" fill="${COLORS.muted}"`);
  const throughput = throughputPanel(results.comparisons.filter((c) => c.run.level === "throughput"), 36);
  const latencyTop = 36 + throughput.height + 16;
  const latency = latencyPanel(results.comparisons.filter((c) => c.run.level === "latency"), latencyTop);
  const height = latencyTop + latency.height + 8;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
${title}
${throughput.svg}
${latency.svg}
</svg>
`;
}
