// deploy/nginx/freshmirror.conf in front of a real freshmirror on loopback, with TLS from a
// self-signed certificate: nginx accepts the config (`nginx -t`), /healthz and a file come
// through HTTPS, a Range request gets freshmirror's 206 and exactly those bytes, plain HTTP is
// redirected, and nginx keeps its HTTP/1.1 connection to freshmirror open between requests.
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Agent, request } from "undici";
import { INDEX, JSON_ACCEPT, MIRROR, type MirrorHarness, startMirror } from "../helpers/mirror-harness.js";
import { repoRoot } from "../helpers/repo-root.js";
import { until } from "../helpers/until.js";

const NGINX = process.env.FRESHMIRROR_NGINX ?? "/usr/sbin/nginx";
const OPENSSL = "/usr/bin/openssl";
const skip = !existsSync(NGINX)
  ? `${NGINX} not found (apt-get install nginx-light or nginx)`
  : !existsSync(OPENSSL)
    ? `${OPENSSL} not found (apt-get install openssl)`
    : undefined;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A TCP relay to `target` that counts the connections made to it (nginx's to freshmirror). */
async function countingRelay(target: URL): Promise<{ port: number; connections(): number; server: Server }> {
  let connections = 0;
  const server = createServer((client) => {
    connections++;
    const upstream = connect(Number(target.port), target.hostname);
    client.pipe(upstream).pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    connections: () => connections,
    server,
  };
}

/** The shipped config with this test's ports, certificate and upstream; each edit must apply. */
function localConfig(text: string, edits: [string, string][]): string {
  let out = text;
  for (const [from, to] of edits) {
    assert.ok(out.includes(from), `deploy/nginx/freshmirror.conf no longer has ${JSON.stringify(from)}`);
    out = out.replaceAll(from, to);
  }
  return out;
}

test("nginx with deploy/nginx/freshmirror.conf serves freshmirror over TLS, streaming and with Range", {
  skip,
  timeout: 180_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "fm-nginx-"));
  let mirror: MirrorHarness | undefined;
  let nginx: ChildProcess | undefined;
  let relay: Awaited<ReturnType<typeof countingRelay>> | undefined;
  after(async () => {
    if (nginx?.pid !== undefined && nginx.exitCode === null) nginx.kill("SIGTERM");
    relay?.server.close();
    await mirror?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  execFileSync(
    OPENSSL,
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=mirror.example.edu",
      "-addext",
      "subjectAltName=DNS:mirror.example.edu,IP:127.0.0.1",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
    ],
    { stdio: "ignore" },
  );

  mirror = await startMirror();
  relay = await countingRelay(new URL(mirror.server.url));
  const httpsPort = await freePort();
  const httpPort = await freePort();
  const site = localConfig(readFileSync(join(repoRoot(), "deploy", "nginx", "freshmirror.conf"), "utf8"), [
    ["server 127.0.0.1:8080;", `server 127.0.0.1:${relay.port};`],
    ["    listen [::]:80;\n", ""],
    ["    listen [::]:443 ssl;\n", ""],
    ["listen 80;", `listen 127.0.0.1:${httpPort};`],
    ["listen 443 ssl;", `listen 127.0.0.1:${httpsPort} ssl;`],
    ["/etc/letsencrypt/live/mirror.example.edu/fullchain.pem", join(dir, "cert.pem")],
    ["/etc/letsencrypt/live/mirror.example.edu/privkey.pem", join(dir, "key.pem")],
  ]);
  writeFileSync(join(dir, "freshmirror.conf"), site);
  for (const temp of ["body", "proxy", "fastcgi", "uwsgi", "scgi"]) mkdirSync(join(dir, temp));
  // The main context nginx.conf gives on Debian, reduced to what a test needs, writing to `dir`.
  writeFileSync(
    join(dir, "nginx.conf"),
    [
      "worker_processes 1;",
      `pid ${join(dir, "nginx.pid")};`,
      `error_log ${join(dir, "error.log")} warn;`,
      "events { worker_connections 64; }",
      "http {",
      `  access_log ${join(dir, "access.log")};`,
      ...["body", "proxy", "fastcgi", "uwsgi", "scgi"].map(
        (temp) => `  ${temp === "body" ? "client_body" : temp}_temp_path ${join(dir, temp)};`,
      ),
      `  include ${join(dir, "freshmirror.conf")};`,
      "}",
      "",
    ].join("\n"),
  );
  const nginxArgs = ["-p", dir, "-e", join(dir, "error.log"), "-c", join(dir, "nginx.conf")];
  const check = spawnSync(NGINX, ["-t", ...nginxArgs], { encoding: "utf8" });
  assert.equal(check.status, 0, check.stderr);
  assert.match(check.stderr, /syntax is ok/);
  assert.doesNotMatch(check.stderr, /\[warn\]/, "nginx warns about the config");

  let nginxOutput = "";
  nginx = spawn(NGINX, [...nginxArgs, "-g", "daemon off;"], { stdio: ["ignore", "pipe", "pipe"] });
  nginx.stderr?.on("data", (chunk: Buffer) => {
    nginxOutput += chunk.toString();
  });
  const agent = new Agent({ connect: { ca: readFileSync(join(dir, "cert.pem")) } });
  const base = `https://127.0.0.1:${httpsPort}`;
  const health = await until(
    async () => {
      if (nginx?.exitCode !== null) assert.fail(`nginx exited:\n${nginxOutput}`);
      try {
        const res = await request(`${base}/healthz`, { dispatcher: agent });
        return { status: res.statusCode, body: await res.body.text() };
      } catch {
        return undefined;
      }
    },
    "nginx to answer over TLS",
    30_000,
    100,
  );
  assert.deepEqual(health, { status: 200, body: "ok\n" });

  // A wheel of the mirror, whole from freshmirror itself, then a range of it through nginx.
  const page = await request(`${base}/${MIRROR}/${INDEX}/demo/`, {
    dispatcher: agent,
    headers: { accept: JSON_ACCEPT },
  });
  assert.equal(page.statusCode, 200);
  const file = ((await page.body.json()) as { files: { filename: string; url: string }[] }).files.find((f) =>
    f.filename.endsWith(".whl"),
  );
  assert.ok(file, "demo has a wheel");
  const fileUrl = new URL(file.url, `${base}/${MIRROR}/${INDEX}/demo/`);
  const direct = await fetch(new URL(fileUrl.pathname, mirror.server.url));
  const whole = Buffer.from(await direct.arrayBuffer());
  assert.ok(whole.length > 200, `a wheel of ${whole.length} bytes`);

  const full = await request(`${base}${fileUrl.pathname}`, { dispatcher: agent });
  assert.equal(full.statusCode, 200);
  assert.ok(Buffer.from(await full.body.arrayBuffer()).equals(whole), "the whole file through nginx");

  const ranged = await request(`${base}${fileUrl.pathname}`, {
    dispatcher: agent,
    headers: { range: "bytes=100-199" },
  });
  assert.equal(ranged.statusCode, 206);
  assert.equal(ranged.headers["content-range"], `bytes 100-199/${whole.length}`);
  assert.ok(Buffer.from(await ranged.body.arrayBuffer()).equals(whole.subarray(100, 200)), "bytes 100-199");
  const etag = direct.headers.get("etag");
  assert.ok(etag);
  const ifRange = await request(`${base}${fileUrl.pathname}`, {
    dispatcher: agent,
    headers: { range: "bytes=0-9", "if-range": etag },
  });
  assert.equal(ifRange.statusCode, 206, "If-Range with the current ETag reaches freshmirror");
  await ifRange.body.dump();

  // Plain HTTP is redirected to HTTPS.
  const plain = await request(`http://127.0.0.1:${httpPort}/healthz`);
  assert.equal(plain.statusCode, 301);
  assert.equal(plain.headers.location, `https://127.0.0.1/healthz`);
  await plain.body.dump();

  // Six requests went to freshmirror, one after the other: all over the one kept-alive connection.
  assert.equal(relay.connections(), 1, "nginx reuses its HTTP/1.1 connection to freshmirror");
  await agent.close();
});
