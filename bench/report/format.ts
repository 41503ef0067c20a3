// Number formatting shared by the Markdown and SVG reports.
export const int = (n: number | undefined): string => (n === undefined ? "–" : Math.round(n).toLocaleString("en-US"));
export const ms = (n: number | undefined): string => (n === undefined ? "–" : n < 10 ? n.toFixed(2) : n.toFixed(1));
export const percent = (ratio: number | undefined): string => (ratio === undefined ? "–" : `${Math.round(ratio * 100)}%`);

export function statusSummary(counts: Record<string, number> | undefined): string {
  if (counts === undefined) return "–";
  const errors = Object.entries(counts).filter(([name]) => name !== "OK");
  return errors.length === 0 ? "0" : errors.map(([name, count]) => `${name} ${int(count)}`).join(", ");
}
