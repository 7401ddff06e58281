// Benchmark (b): the project page of download.pytorch.org `/whl/torch/` (2,855 real filenames and
// sha256s from the fixture CSV), as PEP 503 HTML and PEP 691 JSON, requests/s and latency from
// freshmirror against nginx serving a static copy of the very bytes freshmirror rendered (an
// Accept `map` picks index.html or index.json, the way a static mirror does it).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type FileRecord, StateStore } from "../src/store/state-store.js";
import { createWorkspace } from "../test/helpers/freshmirror-cli.js";
import { realWorldFixture } from "../test/helpers/repo-root.js";
import { type BenchResult, fixed, mib, percentile } from "./bench-result.js";
import { Cleanup } from "./cleanup.js";
import { startLoadClient } from "./load-client.js";
import { startNginx } from "./nginx.js";
import { processMemory } from "./process-memory.js";

const TORCH_CSV = realWorldFixture("torch-wheels", "download.pytorch.org_whl_torch_2026-03-15.csv");
const UPSTREAM = "https://download.pytorch.org";

/** The Accept headers sent: a browser-like HTML request, and what pip sends (it prefers JSON). */
const ACCEPT = {
  html: "text/html",
  json: "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01",
} as const;

export interface IndexPagesOptions {
  connections?: number;
  /** Measured time per server and format, split into `rounds` alternating slices. */
  durationMs?: number;
  rounds?: number;
  warmupMs?: number;
  log?: (line: string) => void;
}

/** The rows of the CSV as snapshot file records. Sizes are not in the CSV: plausible ones are made up. */
export function torchPageFiles(): FileRecord[] {
  const [header, ...lines] = readFileSync(TORCH_CSV, "utf8").trim().split(/\r?\n/);
  const columns = (header ?? "").split(",");
  const at = (name: string) => {
    const index = columns.indexOf(name);
    if (index < 0) throw new Error(`${TORCH_CSV}: no column ${name}`);
    return index;
  };
  const [filenameAt, hrefAt, shaAt, metadataAt] = [
    at("filename"),
    at("href"),
    at("sha256"),
    at("core_metadata_sha256"),
  ];
  return lines.map((line, i) => {
    const cells = line.split(",");
    const href = cells[hrefAt] as string;
    const metadata = cells[metadataAt] ?? "";
    return {
      path: href.replace(/^\//, "").split("/").map(decodeURIComponent).join("/"),
      project: "torch",
      filename: cells[filenameAt] as string,
      upstreamUrl: `${UPSTREAM}${href}`,
      sha256: cells[shaAt] as string,
      size: 700_000_000 + ((i * 7_919_113) % 2_000_000_000),
      hashSource: "index",
      requiresPython: null,
      yanked: null,
      uploadTime: null,
      metadataSha256: metadata === "" ? null : metadata,
      metadataSize: metadata === "" ? null : 40_000,
      metadataSource: metadata === "" ? null : "upstream",
    };
  });
}

export async function indexPages(options: IndexPagesOptions = {}): Promise<BenchResult> {
  const log = options.log ?? (() => undefined);
  const connections = options.connections ?? 32;
  const durationMs = options.durationMs ?? 10_000;
  const rounds = options.rounds ?? 5;
  const warmupMs = options.warmupMs ?? 2_000;
  const cleanup = new Cleanup();
  try {
    const files = torchPageFiles();
    const ws = createWorkspace({
      mirrors: { pytorch: { type: "pypi", upstream: UPSTREAM, indexes: ["whl"], projects: ["torch"] } },
    });
    cleanup.defer(() => ws.cleanup());
    // Published straight into the state store: a serving benchmark needs the snapshot, not a sync.
    mkdirSync(ws.dataDir, { recursive: true });
    const state = new StateStore(join(ws.dataDir, "state.sqlite"));
    try {
      await state.mirrors.ensure("pytorch");
      // Published snapshots list recorded blobs only (the bytes are not needed to serve pages).
      for (const f of files) {
        await state.blobs.record(f.sha256, f.size, "sync", Date.now());
        if (f.metadataSha256)
          await state.blobs.record(f.metadataSha256, f.metadataSize ?? 0, "metadata", Date.now());
      }
      await state.snapshots.publish(
        "pytorch",
        null,
        [
          {
            idx: "whl",
            projects: [
              {
                name: "torch",
                displayName: "torch",
                upstreamSerial: null,
                upstreamTimestamp: null,
                upstreamEtag: null,
              },
            ],
            files,
          },
        ],
        Date.now(),
      );
    } finally {
      state.close();
    }
    const server = await ws.serve();
    cleanup.defer(() => server.stop());
    const serverPid = server.child.pid as number;
    const pageUrl = `${server.url}/pytorch/whl/torch/`;

    // The static copy: exactly what freshmirror renders.
    const www = mkdtempSync(join(tmpdir(), "fm-bench-www-"));
    cleanup.defer(() => rmSync(www, { recursive: true, force: true }));
    mkdirSync(join(www, "whl", "torch"), { recursive: true });
    const bodies: Record<keyof typeof ACCEPT, Buffer> = { html: Buffer.alloc(0), json: Buffer.alloc(0) };
    for (const format of ["html", "json"] as const) {
      const res = await fetch(pageUrl, { headers: { accept: ACCEPT[format] } });
      if (res.status !== 200) throw new Error(`${pageUrl} (${format}) answered ${res.status}`);
      bodies[format] = Buffer.from(await res.arrayBuffer());
      writeFileSync(join(www, "whl", "torch", `index.${format}`), bodies[format]);
    }
    const linkCount = (bodies.html.toString().match(/<a /g) ?? []).length;
    if (linkCount !== files.length)
      throw new Error(`the HTML page has ${linkCount} links, not ${files.length}`);

    const nginx = await startNginx({
      root: www,
      httpExtra: `
  types { text/html html; application/vnd.pypi.simple.v1+json json; }
  map $http_accept $simple_index {
    default index.html;
    "~application/vnd\\.pypi\\.simple\\.v1\\+json" index.json;
  }`,
      serverExtra: "location /whl/ { index $simple_index; }",
    });
    cleanup.defer(() => nginx.stop());
    const targets = { freshmirror: pageUrl, nginx: `${nginx.url}/whl/torch/` } as const;
    for (const format of ["html", "json"] as const) {
      const res = await fetch(targets.nginx, { headers: { accept: ACCEPT[format] } });
      const body = Buffer.from(await res.arrayBuffer());
      if (res.status !== 200 || !body.equals(bodies[format])) {
        throw new Error(`nginx does not serve freshmirror's ${format} page (status ${res.status})`);
      }
    }

    const client = await startLoadClient();
    cleanup.defer(() => client.close());
    const rows: string[][] = [];
    const ratios: Record<string, number> = {};
    const slice = durationMs / rounds;
    for (const format of ["html", "json"] as const) {
      const totals = {
        freshmirror: { requests: 0, bytes: 0, seconds: 0, latencies: [] as number[] },
        nginx: { requests: 0, bytes: 0, seconds: 0, latencies: [] as number[] },
      };
      const measure = async (name: keyof typeof targets, ms: number) => {
        const result = await client.run({
          kind: "requests",
          url: targets[name],
          headers: { accept: ACCEPT[format] },
          connections,
          durationMs: ms,
        });
        if (result.errors > 0) throw new Error(`${name} ${format}: ${result.errors} failed requests`);
        if (result.bodyBytes !== bodies[format].length) {
          throw new Error(
            `${name} ${format}: body of ${result.bodyBytes} bytes, expected ${bodies[format].length}`,
          );
        }
        return result;
      };
      for (const name of ["freshmirror", "nginx"] as const) await measure(name, warmupMs);
      // Short slices, alternating servers, so load from elsewhere on the machine falls on both.
      for (let round = 0; round < rounds; round++) {
        const order =
          round % 2 === 0 ? (["freshmirror", "nginx"] as const) : (["nginx", "freshmirror"] as const);
        for (const name of order) {
          const result = await measure(name, slice);
          const total = totals[name];
          total.requests += result.requests;
          total.bytes += result.bytes;
          total.seconds += result.seconds;
          total.latencies.push(...result.latenciesMs);
        }
      }
      const fm = totals.freshmirror;
      const ng = totals.nginx;
      const fmRate = fm.requests / fm.seconds;
      const ngRate = ng.requests / ng.seconds;
      log(`${format}: freshmirror ${fixed(fmRate, 0)} req/s, nginx ${fixed(ngRate, 0)} req/s`);
      ratios[format] = fmRate / ngRate;
      rows.push([
        format === "html" ? "HTML (PEP 503)" : "JSON (PEP 691)",
        mib(bodies[format].length),
        fixed(fmRate, 0),
        fixed(ngRate, 0),
        fixed(fmRate / ngRate, 2),
        ">= 0.5",
        `${fixed(percentile(fm.latencies, 50), 1)} / ${fixed(percentile(fm.latencies, 99), 1)}`,
        `${fixed(percentile(ng.latencies, 50), 1)} / ${fixed(percentile(ng.latencies, 99), 1)}`,
        `${fixed(fm.bytes / fm.seconds / 1e6, 0)} / ${fixed(ng.bytes / ng.seconds / 1e6, 0)}`,
      ]);
    }
    const memory = processMemory(serverPid);
    return {
      name: "index-pages",
      title: "(b) index-pages: the 2,855-file `/whl/torch/` project page",
      setup: `The ${files.length} files of download.pytorch.org's \`/whl/torch/\` (real filenames, hrefs, sha256 and core-metadata sha256 from \`test/fixtures/real-world/torch-wheels/download.pytorch.org_whl_torch_2026-03-15.csv\`; sizes made up, as the CSV has none) are published straight into the state store with \`StateStore.publish()\` (no sync: this measures serving). nginx serves the HTML and JSON freshmirror rendered, byte for byte, choosing the file from the Accept header with a \`map\`. ${connections} keep-alive connections from a separate load-generator process (undici Pool), ${durationMs / 1000} s per server and format, as ${rounds} slices of ${slice / 1000} s alternating between the servers, after ${warmupMs / 1000} s of warm-up each; no compression on either side. Latency is per request, first byte sent to last byte read, over all slices.`,
      tables: [
        {
          title: "Requests per second",
          columns: [
            "page",
            "size",
            "freshmirror req/s",
            "nginx req/s",
            "ratio",
            "target",
            "freshmirror p50 / p99 ms",
            "nginx p50 / p99 ms",
            "MB/s (fm / nginx)",
          ],
          rows,
        },
      ],
      notes: [`freshmirror serve peak RSS during this benchmark: ${mib(memory.peakRss)}.`],
      targets: {
        [`HTML: req/s ratio >= 0.5 (${fixed(ratios.html ?? Number.NaN, 2)})`]: (ratios.html ?? 0) >= 0.5,
        [`JSON: req/s ratio >= 0.5 (${fixed(ratios.json ?? Number.NaN, 2)})`]: (ratios.json ?? 0) >= 0.5,
      },
    };
  } finally {
    await cleanup.run();
  }
}
