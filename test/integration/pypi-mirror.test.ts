// The mirror core end to end: the real CLI syncs from the local fixture upstream (real wheels),
// the real server serves the snapshot, and real pip installs from it.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type PublishResult,
  type PypiUpstream,
  publishTorchLike,
  startPypiUpstream,
} from "../fixtures/pypi-upstream.js";
import { createWorkspace, type MirrorWorkspace, type RunningServe } from "../helpers/freshmirror-cli.js";
import { runPip } from "../helpers/pip.js";

function mirrorConfig(upstream: PypiUpstream, extra: Record<string, unknown> = {}) {
  return {
    mirrors: {
      pytorch: {
        type: "pypi",
        upstream: upstream.url,
        indexes: ["whl/cu121", "whl/cpu"],
        projects: ["torch", "torchvision", "filelock", "typing-extensions"],
        versions: { torch: ">=2.5", torchvision: ">=0.20" },
        platforms: ["manylinux*_x86_64", "linux_x86_64"],
        python: ["cp311", "cp312"],
        keep_latest: 3,
        retry_backoff: "10ms",
        ...extra,
      },
    },
  };
}

describe("PyPI-style mirror: sync, serve, pip install", () => {
  let upstream: PypiUpstream;
  let published: PublishResult[];
  let ws: MirrorWorkspace;
  let server: RunningServe;

  before(async () => {
    upstream = await startPypiUpstream();
    published = await publishTorchLike(upstream);
    // One wheel that passes the filters but has no .metadata upstream: the mirror extracts it.
    published.push(
      await upstream.publish({
        index: "whl/cu121",
        project: "torchvision",
        version: "0.21.0+cu121",
        pythonTag: "cp312",
        abiTag: "cp312",
        platformTag: "manylinux_2_28_x86_64",
        dependencies: ["torch==2.6.0"],
        withMetadata: false,
      }),
    );
    ws = createWorkspace(mirrorConfig(upstream));
    const sync = await ws.cli(["sync", "pytorch"]);
    assert.equal(sync.code, 0, `sync failed:\n${sync.stdout}\n${sync.stderr}`);
    server = await ws.serve();
  });

  after(async () => {
    await ws.cleanup();
    await upstream.close();
  });

  test("the filters select versions >=2.5 (local labels as pip reads them), x86_64, cp311/cp312, latest 3", async () => {
    const res = await fetch(`${server.url}/pytorch/whl/cu121/torch/`, {
      headers: { accept: "application/vnd.pypi.simple.v1+json" },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/vnd.pypi.simple.v1+json");
    const page = (await res.json()) as {
      meta: { "api-version": string };
      versions: string[];
      files: {
        filename: string;
        url: string;
        hashes: { sha256: string };
        size: number;
        "core-metadata": unknown;
        yanked: unknown;
      }[];
    };
    assert.equal(page.meta["api-version"], "1.1");
    // 2.7.0rc1 is a prerelease (excluded), 2.4.0 is below >=2.5, aarch64 wheels are filtered out.
    assert.deepEqual(page.versions, ["2.5.0+cu121", "2.5.1+cu121", "2.6.0+cu121"]);
    assert.deepEqual(page.files.map((f) => f.filename).sort(), [
      "torch-2.5.0+cu121-cp311-cp311-linux_x86_64.whl",
      "torch-2.5.0+cu121-cp312-cp312-linux_x86_64.whl",
      "torch-2.5.1+cu121-cp311-cp311-linux_x86_64.whl",
      "torch-2.5.1+cu121-cp312-cp312-linux_x86_64.whl",
      "torch-2.6.0+cu121-cp311-cp311-linux_x86_64.whl",
      "torch-2.6.0+cu121-cp312-cp312-linux_x86_64.whl",
    ]);
    for (const file of page.files) {
      const original = published.find((p) => p.filename === file.filename);
      assert.ok(original, `${file.filename} was published upstream`);
      assert.equal(file.hashes.sha256, original.sha256);
      assert.equal(file.size, original.size);
      assert.ok(!("dist-info-metadata" in file), "PEP 714: never the dist-info-metadata key");
      assert.deepEqual(file["core-metadata"], { sha256: original.metadataSha256 });
      assert.ok(file.url.startsWith("../torch-"), `relative href onto the mirror: ${file.url}`);
    }
    const yanked = page.files.find((f) => f.filename === "torch-2.5.0+cu121-cp312-cp312-linux_x86_64.whl");
    assert.equal(yanked?.yanked, "broken build");
  });

  test("real pip installs torch==2.5.1+cu121 and its dependencies from the mirror alone", async () => {
    const target = mkdtempSync(join(tmpdir(), "fm-pip-"));
    try {
      const result = await runPip([
        "install",
        "--index-url",
        `${server.url}/pytorch/whl/cu121`,
        "--target",
        target,
        "--python-version",
        "3.11",
        "--only-binary=:all:",
        "torch==2.5.1+cu121",
      ]);
      assert.equal(result.code, 0, result.stderr);
      const init = readFileSync(join(target, "torch", "__init__.py"), "utf8");
      assert.match(init, /__version__ = "2\.5\.1\+cu121"/);
      const installed = readdirSync(target).sort();
      assert.ok(installed.includes("torch-2.5.1+cu121.dist-info"), installed.join(" "));
      assert.ok(
        installed.some((n) => n.startsWith("filelock-3.13.1")),
        installed.join(" "),
      );
      assert.ok(
        installed.some((n) => n.startsWith("typing_extensions-4.15.0")),
        installed.join(" "),
      );
      // Nothing came from anywhere but the mirror.
      assert.doesNotMatch(result.stdout + result.stderr, /Looking in links|file:\/\/\/opt/);
    } finally {
      rmSync(target, { recursive: true, force: true });
    }
  });

  test("pip download with --require-hashes gets byte-identical wheels", async () => {
    const dest = mkdtempSync(join(tmpdir(), "fm-dl-"));
    try {
      const torch = published.find((p) => p.filename === "torch-2.6.0+cpu-cp312-cp312-linux_x86_64.whl");
      const filelock = published.find((p) => p.filename.startsWith("filelock-"));
      const typing = published.find((p) => p.filename.startsWith("typing_extensions-"));
      assert.ok(torch && filelock && typing);
      const requirements = join(dest, "requirements.txt");
      const { writeFileSync } = await import("node:fs");
      writeFileSync(
        requirements,
        [
          `torch==2.6.0+cpu --hash=sha256:${torch.sha256}`,
          `filelock==3.13.1 --hash=sha256:${filelock.sha256}`,
          `typing-extensions==4.15.0 --hash=sha256:${typing.sha256}`,
        ].join("\n"),
      );
      const result = await runPip([
        "download",
        "--index-url",
        `${server.url}/pytorch/whl/cpu/`,
        "--dest",
        dest,
        "--python-version",
        "3.12",
        "--only-binary=:all:",
        "--require-hashes",
        "-r",
        requirements,
      ]);
      assert.equal(result.code, 0, result.stderr);
      const bytes = readFileSync(join(dest, torch.filename));
      assert.equal(createHash("sha256").update(bytes).digest("hex"), torch.sha256);
    } finally {
      rmSync(dest, { recursive: true, force: true });
    }
  });

  test("files answer HEAD, Range (206, 416), If-Range and ETag (304) correctly", async () => {
    const torch = published.find((p) => p.filename === "torch-2.5.1+cu121-cp311-cp311-linux_x86_64.whl");
    assert.ok(torch);
    const url = `${server.url}/pytorch/whl/cu121/torch-2.5.1%2Bcu121-cp311-cp311-linux_x86_64.whl`;
    const head = await fetch(url, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), String(torch.size));
    assert.equal(head.headers.get("accept-ranges"), "bytes");
    assert.match(head.headers.get("cache-control") ?? "", /immutable/);
    const etag = head.headers.get("etag");
    assert.equal(etag, `"${torch.sha256}"`);
    assert.ok(head.headers.get("last-modified"));

    const full = Buffer.from(await (await fetch(url)).arrayBuffer());
    assert.equal(createHash("sha256").update(full).digest("hex"), torch.sha256);

    const tailLength = Math.min(65536, torch.size);
    const tail = await fetch(url, { headers: { range: `bytes=-${tailLength}` } });
    assert.equal(tail.status, 206);
    assert.equal(
      tail.headers.get("content-range"),
      `bytes ${torch.size - tailLength}-${torch.size - 1}/${torch.size}`,
    );
    assert.deepEqual(Buffer.from(await tail.arrayBuffer()), full.subarray(torch.size - tailLength));

    const middle = await fetch(url, { headers: { range: "bytes=10-19" } });
    assert.equal(middle.status, 206);
    assert.deepEqual(Buffer.from(await middle.arrayBuffer()), full.subarray(10, 20));

    const beyond = await fetch(url, { headers: { range: `bytes=${torch.size}-` } });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers.get("content-range"), `bytes */${torch.size}`);
    await beyond.arrayBuffer();

    const staleIfRange = await fetch(url, { headers: { range: "bytes=0-9", "if-range": '"not-the-etag"' } });
    assert.equal(staleIfRange.status, 200);
    await staleIfRange.arrayBuffer();
    const goodIfRange = await fetch(url, { headers: { range: "bytes=0-9", "if-range": etag ?? "" } });
    assert.equal(goodIfRange.status, 206);
    await goodIfRange.arrayBuffer();

    const notModified = await fetch(url, { headers: { "if-none-match": etag ?? "" } });
    assert.equal(notModified.status, 304);
  });

  test("index pages negotiate HTML/JSON by Accept q-values, vary on Accept, answer 304 and redirect odd names", async () => {
    const base = `${server.url}/pytorch/whl/cu121`;
    const pipAccept =
      "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
    const json = await fetch(`${base}/torch/`, { headers: { accept: pipAccept } });
    assert.equal(json.headers.get("content-type"), "application/vnd.pypi.simple.v1+json");
    assert.equal(json.headers.get("vary"), "Accept");
    await json.arrayBuffer();
    const html = await fetch(`${base}/torch/`, { headers: { accept: "text/html" } });
    assert.match(html.headers.get("content-type") ?? "", /^text\/html/);
    const body = await html.text();
    assert.match(body, /<meta name="pypi:repository-version" content="1\.1">/);
    assert.match(
      body,
      /href="\.\.\/torch-2\.5\.1%2Bcu121-cp311-cp311-linux_x86_64\.whl#sha256=[0-9a-f]{64}"/,
    );
    assert.match(body, /data-requires-python="&#62;=3\.8\.0"/);
    assert.match(body, /data-yanked="broken build"/);
    assert.match(body, /data-core-metadata="sha256=[0-9a-f]{64}"/);
    const etag = html.headers.get("etag");
    assert.ok(etag);
    const again = await fetch(`${base}/torch/`, { headers: { accept: "text/html", "if-none-match": etag } });
    assert.equal(again.status, 304);
    const odd = await fetch(`${base}/Typing_Extensions/`, { redirect: "manual" });
    assert.equal(odd.status, 301);
    assert.equal(odd.headers.get("location"), "/pytorch/whl/cu121/typing-extensions/");
    const noSlash = await fetch(`${base}/torch`, { redirect: "manual" });
    assert.equal(noSlash.status, 301);
    const none = await fetch(`${base}/torch/`, { headers: { accept: "application/xml" } });
    assert.equal(none.status, 406);
    await none.arrayBuffer();
    const list = await fetch(`${base}/`, { headers: { accept: "application/vnd.pypi.simple.v1+json" } });
    const projects = ((await list.json()) as { projects: { name: string }[] }).projects
      .map((p) => p.name)
      .sort();
    assert.deepEqual(projects, ["filelock", "torch", "torchvision", "typing-extensions"]);
  });

  test("core metadata: upstream's .metadata is mirrored, and extracted from the wheel where upstream has none", async () => {
    const page = (await (
      await fetch(`${server.url}/pytorch/whl/cu121/torchvision/`, {
        headers: { accept: "application/vnd.pypi.simple.v1+json" },
      })
    ).json()) as { files: { filename: string; url: string; "core-metadata": { sha256: string } | false }[] };
    // 0.20.1 and 0.21.0 for cp311/cp312 linux_x86_64, plus the manylinux wheel without upstream metadata.
    assert.equal(page.files.length, 5);
    for (const file of page.files) {
      assert.ok(file["core-metadata"], `${file.filename} has core metadata`);
      const res = await fetch(
        new URL(`${file.url}.metadata`, `${server.url}/pytorch/whl/cu121/torchvision/`),
      );
      assert.equal(res.status, 200);
      const bytes = Buffer.from(await res.arrayBuffer());
      assert.equal(
        createHash("sha256").update(bytes).digest("hex"),
        (file["core-metadata"] as { sha256: string }).sha256,
      );
      assert.match(bytes.toString(), /^Metadata-Version: /);
      assert.match(bytes.toString(), /Name: torchvision/);
      const original = published.find((p) => p.filename === file.filename);
      assert.ok(original);
      assert.deepEqual(
        bytes,
        original.metadata,
        `${file.filename}: served metadata equals the wheel's METADATA`,
      );
    }
  });

  test("hostile request paths never reach outside the store", async () => {
    const { request } = await import("node:http");
    const raw = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${server.url}${path}`, { method: "GET", path }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end();
      });
    for (const path of [
      "/pytorch/whl/cu121/../../../../etc/passwd",
      "/pytorch/whl/cu121/..%2F..%2Fetc%2Fpasswd",
      "/pytorch/whl/cu121/%2e%2e/%2e%2e/state.sqlite",
      "/pytorch/whl/cu121/torch%00.whl",
      "/pytorch/+files/..%5C..%5Cstate.sqlite",
      "/pytorch/%E0%A4%A/",
    ]) {
      const status = await raw(path);
      assert.ok(status === 400 || status === 404, `${path} answered ${status}`);
    }
  });

  test("a second sync of an unchanged upstream downloads nothing and requests only index pages", async () => {
    upstream.clearLog();
    const result = await ws.cli(["sync", "pytorch", "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as {
      filesAdded: number;
      filesRemoved: number;
      upstreamRequests: number;
    };
    assert.equal(report.filesAdded, 0);
    assert.equal(report.filesRemoved, 0);
    const fileRequests = upstream.requests.filter((r) => !r.path.endsWith("/"));
    assert.deepEqual(fileRequests, [], "no file was downloaded again");
    assert.equal(report.upstreamRequests, 8, "2 indexes x 4 project pages");
  });

  test("a new release is synced alone, old versions leave by keep_latest, and serve shows it without a restart", async () => {
    const fresh = await upstream.publish({
      index: "whl/cu121",
      project: "torch",
      version: "2.7.0+cu121",
      pythonTag: "cp311",
      abiTag: "cp311",
      platformTag: "linux_x86_64",
      dependencies: ["filelock"],
    });
    upstream.clearLog();
    const result = await ws.cli(["sync", "pytorch", "--project", "torch", "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as {
      filesAdded: number;
      filesRemoved: number;
      newReleases: { project: string; version: string; files: { filename: string; path: string }[] }[];
    };
    assert.equal(report.filesAdded, 1);
    assert.deepEqual(
      report.newReleases.map((r) => [r.project, r.version, r.files.map((f) => f.path)]),
      [["torch", "2.7.0", [`whl/cu121/${fresh.filename}`]]],
    );
    assert.equal(report.filesRemoved, 2, "2.5.0's two files leave: keep_latest 3");
    const downloads = upstream.requests.filter((r) => r.path.includes(".whl"));
    assert.deepEqual(
      downloads.map((r) => decodeURIComponent(r.path)),
      [`/whl/cu121/${fresh.filename}`, `/whl/cu121/${fresh.filename}.metadata`],
    );
    const page = await (await fetch(`${server.url}/pytorch/whl/cu121/torch/`)).text();
    assert.ok(
      page.includes(encodeURIComponent(fresh.filename)),
      "the running server serves the new snapshot",
    );
    assert.ok(!page.includes("torch-2.5.0"), "2.5.0 left the snapshot");
    // torchvision was not part of the targeted sync and is still published.
    const tv = await fetch(`${server.url}/pytorch/whl/cu121/torchvision/`);
    assert.equal(tv.status, 200);
    await tv.arrayBuffer();
  });

  test("status page lists the mirror with its state", async () => {
    const html = await (await fetch(`${server.url}/`)).text();
    assert.match(html, /pytorch/);
    assert.match(html, /state-success/);
  });

  test("verify re-hashes every published blob; a corrupted blob is found and --repair fetches it again", async () => {
    const ok = await ws.cli(["verify", "pytorch"]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /0 problem/);
    const torch = published.find((p) => p.filename === "torch-2.6.0+cu121-cp311-cp311-linux_x86_64.whl");
    assert.ok(torch);
    const blobPath = join(ws.dataDir, "blobs", "sha256", torch.sha256.slice(0, 2), torch.sha256);
    assert.ok(existsSync(blobPath));
    const { chmodSync, writeFileSync } = await import("node:fs");
    chmodSync(blobPath, 0o644);
    writeFileSync(blobPath, "corrupted");
    const bad = await ws.cli(["verify", "pytorch"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, new RegExp(`MISMATCH ${torch.filename.replace(/[.+]/g, "\\$&")}`));
    const repaired = await ws.cli(["verify", "pytorch", "--repair"]);
    assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr);
    assert.match(repaired.stdout, /repaired/);
    const bytes = readFileSync(blobPath);
    assert.equal(createHash("sha256").update(bytes).digest("hex"), torch.sha256);
  });
});
