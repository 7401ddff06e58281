// Benchmark (a): a 1 GiB wheel cached in freshmirror, downloaded by 1 and by 8 concurrent
// clients, against nginx (one worker, sendfile on) serving the very same blob file through a
// symlink. Reports MB/s, the ratio, and freshmirror's peak RSS (VmHWM of the serve process).
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPypiUpstream } from "../test/fixtures/pypi-upstream.js";
import { createWorkspace } from "../test/helpers/freshmirror-cli.js";
import { type BenchResult, fixed, mbPerSecond, median, mib, mibAndMb } from "./bench-result.js";
import { Cleanup } from "./cleanup.js";
import { type DownloadResult, startLoadClient } from "./load-client.js";
import { startNginx } from "./nginx.js";
import { processMemory } from "./process-memory.js";

const GIB = 1024 * 1024 * 1024;
/** The wheel's zip entries and central directory add a few KiB to the payload. */
const DEFAULT_PAYLOAD = GIB - 64 * 1024;

export interface FileServingOptions {
  payloadBytes?: number;
  /** Repetitions per (server, client count); the median is reported. */
  repsSingle?: number;
  repsConcurrent?: number;
  log?: (line: string) => void;
}

export async function fileServing(options: FileServingOptions = {}): Promise<BenchResult> {
  const log = options.log ?? (() => undefined);
  const payloadBytes = options.payloadBytes ?? DEFAULT_PAYLOAD;
  const cleanup = new Cleanup();
  try {
    log(`building a wheel with ${mib(payloadBytes)} of payload in the fixture upstream`);
    const upstream = await startPypiUpstream({ indexes: ["whl/cu121"] });
    cleanup.defer(() => upstream.close());
    const [wheel] = await upstream.publishAll([
      {
        index: "whl/cu121",
        project: "torch",
        version: "2.5.1+cu121",
        pythonTag: "cp311",
        abiTag: "cp311",
        platformTag: "linux_x86_64",
        payloadBytes,
      },
    ]);
    if (!wheel) throw new Error("the fixture upstream published nothing");

    const ws = createWorkspace({
      mirrors: {
        pytorch: {
          type: "pypi",
          upstream: upstream.url,
          indexes: ["whl/cu121"],
          projects: ["torch"],
        },
      },
    });
    cleanup.defer(() => ws.cleanup());
    log(`syncing ${wheel.filename} (${mib(wheel.size)}) into freshmirror`);
    const syncStarted = performance.now();
    const sync = await ws.cli(["sync", "pytorch", "--json"], { timeoutMs: 600_000 });
    const syncSeconds = (performance.now() - syncStarted) / 1000;
    if (sync.code !== 0) throw new Error(`sync failed (${sync.code}):\n${sync.stdout}\n${sync.stderr}`);
    // The upstream's own 1 GiB copy is no longer needed.
    await upstream.close();

    const blob = join(ws.dataDir, "blobs", "sha256", wheel.sha256.slice(0, 2), wheel.sha256);
    if (statSync(blob).size !== wheel.size) throw new Error(`blob ${blob} does not have ${wheel.size} bytes`);
    const www = mkdtempSync(join(tmpdir(), "fm-bench-www-"));
    cleanup.defer(() => rmSync(www, { recursive: true, force: true }));
    mkdirSync(join(www, "whl", "cu121"), { recursive: true });
    symlinkSync(blob, join(www, "whl", "cu121", wheel.filename));

    const nginx = await startNginx({ root: www });
    cleanup.defer(() => nginx.stop());
    const server = await ws.serve();
    cleanup.defer(() => server.stop());
    const serverPid = server.child.pid as number;
    const idle = processMemory(serverPid);
    const client = await startLoadClient();
    cleanup.defer(() => client.close());

    const targets = {
      freshmirror: `${server.url}/pytorch${wheel.path}`,
      nginx: `${nginx.url}${wheel.path}`,
    } as const;
    const download = async (name: keyof typeof targets, clients: number): Promise<DownloadResult> => {
      const result = await client.run({ kind: "download", url: targets[name], clients });
      for (const c of result.clients) {
        if (c.status !== 200 || c.bytes !== wheel.size) {
          throw new Error(`${name}: a client got status ${c.status} and ${c.bytes} of ${wheel.size} bytes`);
        }
      }
      return result;
    };

    log("warming up (one download from each)");
    await download("freshmirror", 1);
    await download("nginx", 1);

    const rows: string[][] = [];
    const ratios: Record<number, number> = {};
    const plan = [
      { clients: 1, reps: options.repsSingle ?? 3 },
      { clients: 8, reps: options.repsConcurrent ?? 2 },
    ];
    for (const { clients, reps } of plan) {
      const rates: Record<keyof typeof targets, number[]> = { freshmirror: [], nginx: [] };
      const slowest: Record<keyof typeof targets, number[]> = { freshmirror: [], nginx: [] };
      for (let rep = 0; rep < reps; rep++) {
        // Alternate who goes first, so neither always runs on a warmer or cooler machine.
        const order: (keyof typeof targets)[] =
          rep % 2 === 0 ? ["freshmirror", "nginx"] : ["nginx", "freshmirror"];
        for (const name of order) {
          const result = await download(name, clients);
          const rate = mbPerSecond(result.bytes, result.seconds);
          rates[name].push(rate);
          slowest[name].push(Math.min(...result.clients.map((c) => mbPerSecond(c.bytes, c.seconds))));
          log(`${clients} client(s), ${name}: ${fixed(rate)} MB/s`);
        }
      }
      const fm = median(rates.freshmirror);
      const ng = median(rates.nginx);
      ratios[clients] = fm / ng;
      rows.push([
        String(clients),
        fixed(fm),
        fixed(ng),
        fixed(fm / ng, 2),
        ">= 0.9",
        clients > 1 ? `${fixed(median(slowest.freshmirror))} / ${fixed(median(slowest.nginx))}` : "",
        rates.freshmirror.map((r) => fixed(r, 0)).join(", "),
        rates.nginx.map((r) => fixed(r, 0)).join(", "),
      ]);
    }
    const memory = processMemory(serverPid);
    const workerPid = nginx.workerPid();
    const nginxMemory = workerPid === undefined ? undefined : processMemory(workerPid);

    return {
      name: "file-serving",
      title: "(a) file-serving: a 1 GiB cached wheel",
      setup: `\`${wheel.filename}\` (${wheel.size} bytes, ${mib(wheel.size)}) built by the fixture upstream and synced into freshmirror with \`freshmirror sync\` (${fixed(syncSeconds)} s, hashed and fsynced); nginx serves the same blob file through a symlink. Each client is a separate undici connection in a separate load-generator process that reads and counts the whole body. Figures are medians of the repetitions listed; MB = 10^6 bytes; aggregate throughput = all bytes / (first request to last byte).`,
      tables: [
        {
          title: "Throughput",
          columns: [
            "clients",
            "freshmirror MB/s",
            "nginx MB/s",
            "ratio",
            "target",
            "slowest client MB/s (fm / nginx)",
            "freshmirror runs",
            "nginx runs",
          ],
          rows,
        },
        {
          title: "Memory",
          columns: [
            "process",
            "RSS after start",
            "peak RSS before any download",
            "peak RSS (VmHWM)",
            "target",
          ],
          rows: [
            [
              "freshmirror serve",
              mibAndMb(idle.rss),
              mibAndMb(idle.peakRss),
              mibAndMb(memory.peakRss),
              "<= 150 MB",
            ],
            ["nginx worker", "", "", nginxMemory ? mibAndMb(nginxMemory.peakRss) : "n/a", ""],
          ],
        },
      ],
      notes: [],
      targets: {
        [`1 client: throughput ratio >= 0.9 (${fixed(ratios[1] ?? Number.NaN, 2)})`]: (ratios[1] ?? 0) >= 0.9,
        [`8 clients: throughput ratio >= 0.9 (${fixed(ratios[8] ?? Number.NaN, 2)})`]:
          (ratios[8] ?? 0) >= 0.9,
        [`freshmirror peak RSS <= 150 MB (${fixed(memory.peakRss / 1e6)} MB)`]: memory.peakRss <= 150e6,
      },
    };
  } finally {
    await cleanup.run();
  }
}
