// What a benchmark returns: markdown tables (printed, and pasted into BENCHMARKS.md), notes, and
// whether each target was met.

export interface BenchTable {
  title: string;
  columns: string[];
  rows: string[][];
}

export interface BenchResult {
  name: string;
  title: string;
  /** How the data was set up, in a sentence or two. */
  setup: string;
  tables: BenchTable[];
  notes: string[];
  /** Target description → met. */
  targets: Record<string, boolean>;
}

export function renderTable(table: BenchTable): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [
    `**${table.title}**`,
    "",
    line(table.columns),
    line(table.columns.map(() => "---")),
    ...table.rows.map(line),
  ].join("\n");
}

export function renderResult(result: BenchResult): string {
  const parts = [`### ${result.title}`, "", result.setup, ""];
  for (const table of result.tables) parts.push(renderTable(table), "");
  for (const [target, met] of Object.entries(result.targets))
    parts.push(`- ${met ? "MET" : "MISSED"}: ${target}`);
  if (result.notes.length > 0) parts.push("", ...result.notes.map((n) => `- ${n}`));
  return `${parts.join("\n")}\n`;
}

/** 10^6 bytes per second, one decimal. */
export function mbPerSecond(bytes: number, seconds: number): number {
  return bytes / seconds / 1e6;
}

export function fixed(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "n/a";
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** Both units, for figures compared with a target in MB: `129.7 MiB (136.0 MB)`. */
export function mibAndMb(bytes: number): string {
  return `${mib(bytes)} (${(bytes / 1e6).toFixed(1)} MB)`;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The p-th percentile (nearest rank) of unsorted values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const at = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[at] as number;
}
