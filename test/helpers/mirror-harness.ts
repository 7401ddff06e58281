// What the fault and crash tests share: a small catalogue on the fixture upstream, a mirror of it
// synced by the real CLI and served by the real server, and ways to look at what a client sees
// (pages and file bytes) and at what is on disk (blobs, temp files, run records).
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import type { SyncReport } from "../../src/sync/run-lifecycle.js";
import {
  type PublishOptions,
  type PublishResult,
  type PypiUpstream,
  type PypiUpstreamOptions,
  startPypiUpstream,
} from "../fixtures/pypi-upstream.js";
import {
  type CliResult,
  createWorkspace,
  type MirrorWorkspace,
  type RunningServe,
} from "./freshmirror-cli.js";

export const MIRROR = "pypi";
export const INDEX = "simple";
export const JSON_ACCEPT = "application/vnd.pypi.simple.v1+json";

export interface MirrorHarness {
  upstream: PypiUpstream;
  /** What the catalogue published before the first sync. */
  published: PublishResult[];
  ws: MirrorWorkspace;
  server: RunningServe;
  /** Stops serve, removes the workspace, closes the upstream. */
  close(): Promise<void>;
}

export interface HarnessOptions {
  upstream?: PypiUpstreamOptions;
  /** Extra fields of the mirror's config. */
  mirror?: Record<string, unknown>;
  /** Extra top-level config fields (gc_grace, ...). */
  top?: Record<string, unknown>;
  /** data_dir outside the workspace (a tmpfs). */
  dataDir?: string;
  /** More files for the first snapshot. */
  extra?: PublishOptions[];
}

export function mirrorConfig(upstreamUrl: string, options: HarnessOptions = {}): Record<string, unknown> {
  return {
    ...options.top,
    mirrors: {
      [MIRROR]: {
        type: "pypi",
        upstream: upstreamUrl,
        indexes: [INDEX],
        projects: ["demo", "helper"],
        retry_backoff: "10ms",
        upstream_timeout: "5s",
        // What a client sees is the published snapshot alone, not the pull-through cache.
        on_miss: "404",
        ...options.mirror,
      },
    },
  };
}

/**
 * Starts the fixture upstream with `helper 0.1` and `demo 1.0` (which requires helper), syncs a
 * mirror of it with the CLI and starts `serve`.
 */
export async function startMirror(options: HarnessOptions = {}): Promise<MirrorHarness> {
  const upstream = await startPypiUpstream({ indexes: [INDEX], ...options.upstream });
  let ws: MirrorWorkspace | undefined;
  try {
    const published = await upstream.publishAll([
      { index: INDEX, project: "helper", version: "0.1" },
      { index: INDEX, project: "demo", version: "1.0", dependencies: ["helper"] },
      ...(options.extra ?? []),
    ]);
    ws = createWorkspace(mirrorConfig(upstream.url, options), options.dataDir);
    const sync = await ws.cli(["sync", MIRROR]);
    assert.equal(sync.code, 0, `first sync failed:\n${sync.stdout}\n${sync.stderr}`);
    const server = await ws.serve();
    const workspace = ws;
    return {
      upstream,
      published,
      ws: workspace,
      server,
      async close() {
        await workspace.cleanup();
        await upstream.close();
      },
    };
  } catch (error) {
    await ws?.cleanup();
    await upstream.close();
    throw error;
  }
}

/** Runs `sync <mirror> --json [args]` and parses the report (every run prints one, failed or not). */
export async function syncJson(
  ws: MirrorWorkspace,
  args: string[] = [],
): Promise<{ result: CliResult; report: SyncReport }> {
  const result = await ws.cli(["sync", MIRROR, "--json", ...args]);
  let report: SyncReport;
  try {
    report = JSON.parse(result.stdout) as SyncReport;
  } catch {
    assert.fail(`sync --json printed no report (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
  return { result, report };
}

export function sha256Hex(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export interface ServedView {
  /** The project list and each project page, as HTML and as JSON. */
  pages: Record<string, string>;
  /** sha256 of the bytes served for each file listed, by filename. */
  files: Record<string, string>;
}

/** Everything a client can see of the mirror's projects: pages in both forms and every file's bytes. */
export async function servedView(server: RunningServe, projects = ["demo", "helper"]): Promise<ServedView> {
  const base = `${server.url}/${MIRROR}/${INDEX}/`;
  const pages: Record<string, string> = {};
  const files: Record<string, string> = {};
  const page = async (url: string, accept: string) => {
    const res = await fetch(url, { headers: { accept } });
    assert.equal(res.status, 200, `${url} answered ${res.status}`);
    return res.text();
  };
  pages["/ html"] = await page(base, "text/html");
  pages["/ json"] = await page(base, JSON_ACCEPT);
  for (const project of projects) {
    const url = `${base}${project}/`;
    pages[`${project} html`] = await page(url, "text/html");
    const json = await page(url, JSON_ACCEPT);
    pages[`${project} json`] = json;
    for (const file of (JSON.parse(json) as { files: { filename: string; url: string }[] }).files) {
      const res = await fetch(new URL(file.url, url));
      assert.equal(res.status, 200, `${file.filename} answered ${res.status}`);
      files[file.filename] = sha256Hex(Buffer.from(await res.arrayBuffer()));
    }
  }
  return { pages, files };
}

/** Filenames listed on a served project page (JSON form). */
export async function servedFilenames(server: RunningServe, project: string): Promise<string[]> {
  const res = await fetch(`${server.url}/${MIRROR}/${INDEX}/${project}/`, {
    headers: { accept: JSON_ACCEPT },
  });
  assert.equal(res.status, 200);
  return ((await res.json()) as { files: { filename: string }[] }).files.map((f) => f.filename).sort();
}

/** Every regular file under a directory, as paths relative to it ([] when it does not exist). */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (at: string, prefix: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(at, entry.name), `${prefix}${entry.name}/`);
      else out.push(`${prefix}${entry.name}`);
    }
  };
  walk(dir, "");
  return out.sort();
}

export function blobPath(dataDir: string, sha256: string): string {
  return join(dataDir, "blobs", "sha256", sha256.slice(0, 2), sha256);
}

/** Asserts that every file in the blob store is complete: its bytes hash to its name. Returns the names. */
export function assertStoreIntact(dataDir: string): string[] {
  const names: string[] = [];
  for (const rel of filesUnder(join(dataDir, "blobs", "sha256"))) {
    const name = rel.split("/").pop() as string;
    const bytes = readFileSync(join(dataDir, "blobs", "sha256", rel));
    assert.equal(sha256Hex(bytes), name, `blob ${rel} holds bytes that hash to something else`);
    names.push(name);
  }
  return names;
}

/** Temp files left under data_dir/tmp (download folders are per process; files are what matter). */
export function tempFiles(dataDir: string): string[] {
  return filesUnder(join(dataDir, "tmp"));
}

export interface RunRecord {
  id: number;
  outcome: string;
  error: string | null;
  warnings: string[];
  logPath: string | null;
  filesAdded: number;
}

/** The mirror's sync runs as recorded in state.sqlite, oldest first. */
export function runRecords(dataDir: string): RunRecord[] {
  const db = new Database(join(dataDir, "state.sqlite"), { fileMustExist: true });
  try {
    const rows = db
      .prepare(
        "SELECT id, outcome, error, warnings, log_path, files_added FROM runs WHERE mirror = ? ORDER BY id",
      )
      .all(MIRROR) as {
      id: number;
      outcome: string;
      error: string | null;
      warnings: string;
      log_path: string | null;
      files_added: number;
    }[];
    return rows.map((r) => ({
      id: r.id,
      outcome: r.outcome,
      error: r.error,
      warnings: JSON.parse(r.warnings) as string[],
      logPath: r.log_path,
      filesAdded: r.files_added,
    }));
  } finally {
    db.close();
  }
}

/** Polls until `check` returns a truthy value. */
/** Polls `check` (sync or async: a state store answers with a Promise) until it gives a truthy value. */
export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Collects a spawned CLI's output and resolves when it has exited. */
export function collect(child: ChildProcess): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr?.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The size of the only partial download in data_dir/tmp, or 0 while there is none. */
export function partialDownloadBytes(dataDir: string): number {
  const [file] = tempFiles(dataDir);
  return file === undefined ? 0 : statSync(join(dataDir, "tmp", file)).size;
}
