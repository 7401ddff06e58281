// A proxied page of 255k links (~50 MB, the size of download.pytorch.org's biggest nightly pages)
// must not stall the server: /healthz answers while it is fetched and parsed, and later hits
// serve bytes rendered once, without parsing again. The server runs in this process, so the
// event loop the probes measure is the server's own.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, get as httpGet, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { after, before, describe, test } from "node:test";
import { stringify } from "yaml";
import { App } from "../../src/app/app.js";
import { parseConfigText } from "../../src/app/load-config.js";
import { type RunningServer, startServer } from "../../src/http/server.js";
import { pageWorkStats } from "../../src/pypi/page-worker-pool.js";

const LINKS = 255_000;
const JSON_ACCEPT = "application/vnd.pypi.simple.v1+json";
/**
 * /healthz must answer within this while the big page is fetched, parsed and stored. Parsing
 * and rendering take tens of seconds of CPU on a loaded 2-core machine (before the page worker,
 * /healthz waited 42 s); what is left on the event loop is short tasks and GC pauses.
 */
const HEALTHZ_BOUND_MS = 1000;
/** The longest the event loop itself may be held (perf_hooks' event loop delay). */
const LOOP_DELAY_BOUND_MS = 500;

/** The page, written straight into one Buffer (no 255k strings for the GC to sweep later). */
function bigPage(): Buffer {
  const page = Buffer.alloc(64 * 1024 * 1024);
  let at = page.write("<!DOCTYPE html><html><body>\n");
  for (let i = 0; i < LINKS; i++) {
    const filename = `bigproj-1.0.${i}-cp312-cp312-linux_x86_64.whl`;
    const digest = i.toString(16).padStart(64, "0");
    at += page.write(
      `<a href="/whl/${filename}#sha256=${digest}" data-requires-python="&gt;=3.9">${filename}</a><br/>\n`,
      at,
    );
  }
  at += page.write("</body></html>\n", at);
  return page.subarray(0, at);
}

/**
 * Reads a page as a stream, keeping only its tail: holding or decoding 50 MB here would be
 * charged to the event loop under test.
 */
function getPage(url: string, accept?: string): Promise<{ status: number; tail: string }> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { headers: accept ? { accept } : {} }, (res) => {
      let tail: Buffer = Buffer.alloc(0);
      res.on("data", (chunk: Buffer) => {
        tail =
          chunk.length >= 4096
            ? chunk.subarray(chunk.length - 4096)
            : Buffer.concat([tail, chunk]).subarray(-4096);
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, tail: tail.toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

/** Probes /healthz every 20 ms until `until` settles; returns each probe's latency. */
async function probeWhile(url: string, until: Promise<unknown>): Promise<number[]> {
  let done = false;
  void until.finally(() => {
    done = true;
  });
  const latencies: number[] = [];
  while (!done) {
    const started = performance.now();
    const res = await fetch(`${url}/healthz`);
    await res.arrayBuffer();
    latencies.push(performance.now() - started);
    await new Promise((r) => setTimeout(r, 20));
  }
  return latencies;
}

describe("a big proxied page", () => {
  let dir: string;
  let page: Buffer;
  let upstream: Server;
  let upstreamUrl: string;
  const pageRequests: string[] = [];
  let app: App;
  let server: RunningServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "fm-big-"));
    page = bigPage();
    upstream = createServer((req, res) => {
      pageRequests.push(req.url ?? "");
      if (req.url !== "/whl/bigproj/") {
        res.statusCode = 404;
        res.end();
        return;
      }
      if (req.headers["if-none-match"] === '"v1"') {
        res.statusCode = 304;
        res.end();
        return;
      }
      res.setHeader("Content-Type", "text/html");
      res.setHeader("ETag", '"v1"');
      res.setHeader("Content-Length", page.length);
      res.end(page);
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const config = parseConfigText(
      stringify({
        data_dir: join(dir, "data"),
        mirrors: {
          pp: {
            type: "pypi",
            mode: "proxy",
            upstream: upstreamUrl,
            indexes: ["whl"],
            upstream_timeout: "120s",
          },
        },
      }),
      "big page test",
    );
    app = await App.open(config);
    server = await startServer(app, "127.0.0.1", 0);
  });

  after(async () => {
    await server.close();
    await app.close();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  test("/healthz answers while a 255k-link page is fetched, parsed and stored, and later hits do not parse again", async () => {
    assert.ok(page.length > 45 * 1024 * 1024, `page is ${page.length} bytes`);
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    let peakRss = process.memoryUsage().rss;
    const rssTimer = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 50);
    try {
      const started = performance.now();
      const first = getPage(`${server.url}/pp/whl/bigproj/`);
      const during = await probeWhile(server.url, first);
      const firstMs = performance.now() - started;
      const { status, tail } = await first;
      assert.equal(status, 200, tail);
      assert.ok(tail.includes(`bigproj-1.0.${LINKS - 1}-cp312`), "the last link is served");
      const firstLoopMax = loop.max / 1e6;
      loop.reset();

      const hits: number[] = [];
      const later = (async () => {
        for (let i = 0; i < 3; i++) {
          const t = performance.now();
          const res = await getPage(`${server.url}/pp/whl/bigproj/`, i === 1 ? JSON_ACCEPT : undefined);
          assert.equal(res.status, 200);
          assert.ok(res.tail.includes(`bigproj-1.0.${LINKS - 1}-cp312`));
          hits.push(performance.now() - t);
        }
      })();
      const duringHits = await probeWhile(server.url, later);
      await later;
      const laterLoopMax = loop.max / 1e6;
      const report = {
        pageBytes: page.length,
        firstFetchMs: Math.round(firstMs),
        healthzMaxDuringFirstMs: Math.round(Math.max(...during)),
        loopDelayMaxDuringFirstMs: Math.round(firstLoopMax),
        laterHitsMs: hits.map(Math.round),
        healthzMaxDuringLaterMs: Math.round(Math.max(0, ...duringHits)),
        loopDelayMaxDuringLaterMs: Math.round(laterLoopMax),
        peakRssMB: Math.round(peakRss / 1024 / 1024),
      };
      console.log(`big page: ${JSON.stringify(report)}`);
      assert.equal(pageRequests.filter((p) => p === "/whl/bigproj/").length, 1, "upstream asked once");
      // Parsed once, rendered in both formats at once: later hits (HTML and JSON) parse nothing.
      assert.deepEqual(pageWorkStats, { parses: 1, renders: 0 });
      // The loop was free the whole time: probes kept being answered while the page was parsed.
      assert.ok(during.length >= firstMs / 1000, `${during.length} probes in ${Math.round(firstMs)} ms`);
      assert.ok(
        report.healthzMaxDuringFirstMs < HEALTHZ_BOUND_MS,
        `healthz took ${report.healthzMaxDuringFirstMs} ms during the first fetch`,
      );
      assert.ok(
        report.loopDelayMaxDuringFirstMs < LOOP_DELAY_BOUND_MS &&
          report.loopDelayMaxDuringLaterMs < LOOP_DELAY_BOUND_MS,
        `the event loop was held ${report.loopDelayMaxDuringFirstMs} / ${report.loopDelayMaxDuringLaterMs} ms`,
      );
      assert.ok(
        report.healthzMaxDuringLaterMs < HEALTHZ_BOUND_MS,
        `healthz took ${report.healthzMaxDuringLaterMs} ms during later hits`,
      );
    } finally {
      clearInterval(rssTimer);
      loop.disable();
    }
  });
});
