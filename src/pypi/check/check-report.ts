// What `freshmirror check` found: the report's shape (its --json output) and its text forms.
import { formatDuration } from "../../config/duration.js";
import type { ErrorCode } from "../../errors.js";
import type { ProjectComparison } from "../mirror-comparison.js";

export interface CheckError {
  side: "mirror" | "upstream";
  url: string;
  code: ErrorCode;
  message: string;
  /** Polling again may help (network errors, timeouts, 5xx). */
  transient: boolean;
}

export interface ProjectCheck extends Omit<ProjectComparison, "status"> {
  status: "current" | "behind" | "error";
  upstreamPage: string;
  mirrorPage: string;
  error?: CheckError;
}

export interface CheckReport {
  status: "current" | "behind" | "error";
  checkedAt: string;
  mirror: string;
  upstream: string;
  version: string | null;
  projects: ProjectCheck[];
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function behindText(since: string | undefined, ms: number | undefined): string {
  return since === undefined || ms === undefined
    ? "since unknown (upstream gives no upload times)"
    : `since ${since} (${formatDuration(ms)})`;
}

/** The human report: one block per project. */
export function formatCheckReport(report: CheckReport): string {
  const lines: string[] = [];
  for (const p of report.projects) {
    if (p.status === "error") {
      lines.push(`${p.project}: error: ${p.error?.message ?? "unknown error"}`);
      continue;
    }
    const scope = report.version === null ? "" : ` matching ${report.version}`;
    if (p.status === "current") {
      lines.push(
        p.upstreamFiles === 0
          ? `${p.project}: current (upstream has no version${scope})`
          : `${p.project}: current: ${plural(p.upstreamVersions, "version")}, ${plural(p.upstreamFiles, "file")}${scope}${p.newestUpstream ? `, newest ${p.newestUpstream}` : ""}`,
      );
      continue;
    }
    const wholly = p.missingVersions.filter((v) => v.missing === v.files).length;
    const parts: string[] = [];
    if (p.missingFiles.length > 0) {
      parts.push(
        `lacks ${plural(p.missingFiles.length, "file")} in ${plural(p.missingVersions.length, "version")}${wholly < p.missingVersions.length ? ` (${p.missingVersions.length - wholly} in part)` : ""}`,
      );
    }
    if (p.differs.length > 0) parts.push(`${plural(p.differs.length, "file")} differ`);
    lines.push(
      `${p.project}: behind${p.mirrorLacksProject ? " (the mirror has no page for it)" : ""}: ${parts.join(", ")}; behind ${behindText(p.behindSince, p.behindMs)}`,
    );
    if (p.newestUpstream !== undefined) {
      lines.push(
        `  newest upstream: ${p.newestUpstream}; newest complete on the mirror: ${p.newestOnMirror ?? "none"}`,
      );
    }
    for (const v of p.missingVersions) {
      lines.push(
        `  missing ${v.version}: ${v.missing === v.files ? plural(v.files, "file") : `${v.missing} of ${v.files} files`}, behind ${behindText(v.behindSince, v.behindMs)}`,
      );
      for (const f of p.missingFiles.filter((file) => (file.version ?? "(unknown version)") === v.version)) {
        lines.push(`    ${f.filename}${f.yanked ? " (yanked upstream)" : ""}`);
      }
    }
    for (const d of p.differs) {
      lines.push(
        `  differs ${d.filename}: upstream sha256 ${d.upstreamSha256}, mirror sha256 ${d.mirrorSha256}`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

/** Whether a --wait is over: everything current, and with --version, every project has a matching version. */
export function satisfied(report: CheckReport): boolean {
  return (
    report.status === "current" &&
    (report.version === null || report.projects.every((p) => p.upstreamFiles > 0))
  );
}

export function waitingLine(report: CheckReport, nextMs: number): string {
  const parts = report.projects.map((p) => {
    if (p.status === "error") return `${p.project}: ${p.error?.message ?? "error"}`;
    if (p.status === "behind") {
      const versions = p.missingVersions.map((v) => v.version);
      return `${p.project} lacks ${versions.slice(0, 3).join(", ")}${versions.length > 3 ? ` and ${versions.length - 3} more` : ""}${p.differs.length > 0 ? ` (${p.differs.length} differ)` : ""}`;
    }
    if (p.upstreamFiles === 0) return `${p.project}: upstream has no version matching ${report.version}`;
    return `${p.project} current`;
  });
  return `waiting: ${parts.join("; ")}; next poll in ${formatDuration(nextMs)}\n`;
}
