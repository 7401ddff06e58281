// A MirrorStatus with every field set, for tests of the views built on it.
import type { MirrorStatus } from "../../src/sync/mirror-status.js";

export function mirrorStatusFixture(patch: Partial<MirrorStatus> = {}): MirrorStatus {
  return {
    name: "pytorch",
    type: "pypi",
    mode: "mirror",
    description: "PyTorch wheels",
    upstream: "https://download.pytorch.org",
    indexes: ["whl/cu121", "whl/cpu"],
    state: "success",
    schedule: "0 2 * * * (local time)",
    lastSuccessAt: Date.UTC(2025, 2, 1, 2, 10, 5, 900),
    lastAttemptAt: Date.UTC(2025, 2, 1, 2, 0, 0, 250),
    lastEndedAt: Date.UTC(2025, 2, 1, 2, 10, 5, 900),
    nextRunAt: Date.UTC(2025, 2, 2, 2, 0, 0),
    pausedAt: null,
    lastError: null,
    fileCount: 120,
    totalSize: 5 * 1024 ** 3 + 300 * 1024 ** 2,
    publishedAt: Date.UTC(2025, 2, 1, 2, 10, 5, 900),
    lagMs: 3 * 3_600_000,
    lagLevel: "ok",
    lagBasis: "last-sync",
    lagSince: Date.UTC(2025, 2, 1, 2, 0, 0, 250),
    lagWarnMs: 86_400_000,
    lagCriticalMs: 3 * 86_400_000,
    upstreamUp: true,
    upstreamCheckedAt: Date.UTC(2025, 2, 1, 2, 0, 1),
    upstreamFailingSince: null,
    upstreamError: null,
    lastRun: undefined,
    lastDurationMs: 605_650,
    ...patch,
  };
}
