// The error codes, their statuses and docs/errors.md kept in step, in the manner of fastify's
// test/internals/errors.test.js: every code is documented and every documented code defined, the
// documented HTTP status is the one defined, and each error class answers with its code's status.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { repoRoot } from "../test/helpers/repo-root.js";
import * as errors from "./errors.js";
import {
  DigestMismatchError,
  ERROR_CODES,
  type ErrorCode,
  errorCodeOf,
  FreshmirrorError,
  isErrorCode,
  UpstreamStatusError,
} from "./errors.js";
import { OCI_ERROR_STATUS, OciError, type OciErrorCode } from "./oci/registry-errors.js";

const url = "http://127.0.0.1:1/whl/cu121/torch/";
const file = "torch-2.5.1-cp311-cp311-linux_x86_64.whl";
const sha = "a".repeat(64);
const diskFull = Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });

/** One instance of each error class exported by src/errors.ts (a new class must be added here). */
const samples: Record<string, FreshmirrorError[]> = {
  FreshmirrorError: [new FreshmirrorError("FM_ERR_SYNC_FAILED", "boom")],
  InternalError: [new errors.InternalError("page worker exited with code 1")],
  ConfigError: [new errors.ConfigError(["mirrors.x.schedule: bad"], "test")],
  UsageError: [new errors.UsageError("unknown option --frob")],
  UpstreamStatusError: [new errors.UpstreamStatusError(url, 500)],
  UpstreamNetworkError: [new errors.UpstreamNetworkError(url, new Error("ECONNREFUSED"))],
  UpstreamTimeoutError: [new errors.UpstreamTimeoutError(url, 1000)],
  UpstreamCircuitOpenError: [new errors.UpstreamCircuitOpenError("127.0.0.1:1", Date.now())],
  NotAllowedHostError: [
    new errors.NotAllowedHostError(url, ["pypi.org"]),
    new errors.NotAllowedHostError("ftp://example.org/f", "http(s) URLs only"),
  ],
  MalformedPageError: [new errors.MalformedPageError(url, "no anchors")],
  BodyTooLargeError: [new errors.BodyTooLargeError(url, 10)],
  DigestMismatchError: [new errors.DigestMismatchError(file, sha, "b".repeat(64))],
  SizeMismatchError: [new errors.SizeMismatchError(file, 10, 9)],
  FetchTooLargeError: [new errors.FetchTooLargeError(file, url, 10, 11, "the index")],
  FileSizeLimitError: [new errors.FileSizeLimitError(file, url, 10, 11, true)],
  FetchRestartedError: [new errors.FetchRestartedError(file, "upstream ignored Range")],
  FetchTimeoutError: [new errors.FetchTimeoutError(file)],
  FetchTruncatedError: [new errors.FetchTruncatedError(`download of ${file} cut off`)],
  FetchAbandonedError: [new errors.FetchAbandonedError(file, 1000)],
  TooManyFileResponsesError: [new errors.TooManyFileResponsesError(4, 1)],
  SyncLockedError: [new errors.SyncLockedError("pytorch", "pid 1")],
  UnknownMirrorError: [new errors.UnknownMirrorError("nope", ["pytorch"])],
  StoreWriteError: [
    new errors.StoreWriteError("/data/x", new Error("EACCES")),
    new errors.StoreWriteError("/data/x", diskFull),
  ],
  StoreNotWritableError: [new errors.StoreNotWritableError("/data", "read-only", "remount it")],
  WheelMetadataError: [new errors.WheelMetadataError(file, "no METADATA")],
  WheelInvalidError: [new errors.WheelInvalidError(file, "not a zip")],
  BlobMissingError: [new errors.BlobMissingError(sha)],
  SnapshotBlobsGoneError: [new errors.SnapshotBlobsGoneError("pytorch", [sha, sha, sha, sha])],
  SyncFailedError: [new errors.SyncFailedError("pytorch", "upstream down")],
  SyncInternalError: [new errors.SyncInternalError("no download recorded")],
  BadRequestPathError: [new errors.BadRequestPathError("bad percent-encoding")],
  NotFoundError: [new errors.NotFoundError("/x/")],
  NotProjectNameError: [new errors.NotProjectNameError("/pypi/simple/%3F/", "?")],
  PageTooManyLinksError: [new errors.PageTooManyLinksError(url, 10)],
  AuthError: [new errors.AuthError("no token", 401), new errors.AuthError("wrong token", 403)],
  SyncRefusedError: [new errors.SyncRefusedError("pytorch", "disabled")],
  MethodNotAllowedError: [new errors.MethodNotAllowedError("PUT", "/api/v1/status", ["GET"])],
  BadRequestError: [new errors.BadRequestError("not JSON")],
};

/** The statuses a code may be answered with, as ERROR_CODES defines them (null: 500 if ever served). */
function allowedStatuses(code: ErrorCode): readonly number[] {
  const { status } = ERROR_CODES[code];
  if (status === null) return [500];
  return typeof status === "number" ? [status] : status;
}

function documentedRows(): { code: string; http: string }[] {
  const text = readFileSync(join(repoRoot(), "docs", "errors.md"), "utf8");
  return [...text.matchAll(/^\| `(FM_ERR_[A-Z_]+)` *\| ([^|]+?) *\|/gm)].map((m) => ({
    code: m[1] as string,
    http: m[2] as string,
  }));
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (name.endsWith(".ts") && !name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

test("docs/errors.md lists every code in ERROR_CODES once, and nothing else", () => {
  const rows = documentedRows();
  const documented = rows.map((r) => r.code);
  const defined = Object.keys(ERROR_CODES);
  assert.ok(defined.length > 40, "expected to find the codes");
  assert.deepEqual(
    documented.filter((c, i) => documented.indexOf(c) !== i),
    [],
    "codes documented twice",
  );
  assert.deepEqual(
    defined.filter((c) => !documented.includes(c)).sort(),
    [],
    "codes defined but not documented",
  );
  assert.deepEqual(
    documented.filter((c) => !defined.includes(c)).sort(),
    [],
    "codes documented but not defined",
  );
});

test("docs/errors.md's HTTP column is the status ERROR_CODES defines", () => {
  for (const { code, http } of documentedRows()) {
    if (!isErrorCode(code)) continue; // reported by the test above
    const { status } = ERROR_CODES[code];
    const expected = status === null ? "–" : typeof status === "number" ? String(status) : status.join("/");
    assert.equal(http, expected, `${code}: docs say ${http}, ERROR_CODES says ${expected}`);
  }
});

test("every code follows FM_ERR_<AREA>_<WHAT>", () => {
  for (const code of Object.keys(ERROR_CODES)) assert.match(code, /^FM_ERR_[A-Z0-9]+(_[A-Z0-9]+)*$/, code);
});

test("each error class carries its code and answers with the status defined for it", () => {
  const classes = Object.entries(errors).filter(
    ([, value]) =>
      typeof value === "function" &&
      (value === FreshmirrorError || value.prototype instanceof FreshmirrorError),
  );
  assert.deepEqual(
    classes.map(([name]) => name).filter((name) => !(name in samples)),
    [],
    "error classes without a sample above",
  );
  for (const [name, instances] of Object.entries(samples)) {
    for (const error of instances) {
      assert.equal(error.name, name);
      assert.ok(isErrorCode(error.code), `${name}: ${error.code} is not in ERROR_CODES`);
      assert.ok(
        allowedStatuses(error.code).includes(error.status),
        `${name} (${error.code}) answers ${error.status}, defined as ${allowedStatuses(error.code).join("/")}`,
      );
    }
  }
  assert.equal(samples.StoreWriteError?.[1]?.code, "FM_ERR_STORE_FULL", "a full disk is its own code");
  assert.equal(samples.StoreWriteError?.[1]?.status, 507);
  assert.equal(samples.AuthError?.[1]?.status, 403);
});

test("one error class per code: no two classes report the same code", () => {
  const owner = new Map<string, string>();
  for (const [name, instances] of Object.entries(samples)) {
    if (name === "FreshmirrorError") continue;
    for (const { code } of instances) {
      assert.ok(
        !owner.has(code) || owner.get(code) === name,
        `${code} reported by ${owner.get(code)} and ${name}`,
      );
      owner.set(code, name);
    }
  }
});

test("each OCI spec code has its FM_ERR_OCI_ code with the same status, and OciError uses it", () => {
  const specCodes = Object.keys(OCI_ERROR_STATUS) as OciErrorCode[];
  const ociCodes = Object.keys(ERROR_CODES).filter((c) => c.startsWith("FM_ERR_OCI_"));
  assert.deepEqual(ociCodes.sort(), specCodes.map((c) => `FM_ERR_OCI_${c}`).sort());
  for (const spec of specCodes) {
    const error = new OciError(spec, "test");
    assert.equal(error.code, `FM_ERR_OCI_${spec}`);
    assert.equal(error.status, OCI_ERROR_STATUS[spec]);
    assert.deepEqual(allowedStatuses(error.code), [OCI_ERROR_STATUS[spec]]);
  }
});

test("every defined code is reported by some error: none is defined and never used", () => {
  const reported = new Set<string>([errorCodeOf(new Error("not ours"))]);
  for (const instances of Object.values(samples)) for (const { code } of instances) reported.add(code);
  for (const spec of Object.keys(OCI_ERROR_STATUS) as OciErrorCode[])
    reported.add(new OciError(spec, "x").code);
  assert.deepEqual(
    Object.keys(ERROR_CODES).filter((c) => !reported.has(c)),
    [],
    "codes no error class reports",
  );
});

test("no code is spelled out in src/ outside errors.ts: call sites use the classes", () => {
  const found: string[] = [];
  for (const path of sourceFiles(join(repoRoot(), "src"))) {
    // Contract suites are test code (run by each implementation's test), like *.test.ts files.
    if (path.endsWith(join("src", "errors.ts")) || path.endsWith(".contract.ts")) continue;
    for (const match of readFileSync(path, "utf8").matchAll(/["'`](FM_ERR_[A-Z0-9_]+)["'`]/g))
      found.push(`${path.slice(repoRoot().length + 1)}: ${match[1]}`);
  }
  assert.deepEqual(found, []);
});

test("isErrorCode accepts the defined codes only (codes crossing a worker thread are checked)", () => {
  assert.equal(isErrorCode("FM_ERR_DIGEST_MISMATCH"), true);
  assert.equal(isErrorCode("FM_ERR_MADE_UP"), false);
  assert.equal(isErrorCode("toString"), false);
  assert.equal(isErrorCode(undefined), false);
  assert.equal(errorCodeOf(new errors.NotFoundError("/x")), "FM_ERR_HTTP_NOT_FOUND");
  assert.equal(errorCodeOf("a string"), "FM_ERR_INTERNAL");
});

test("errors carry a stable code, an HTTP status and a message naming what was wrong", () => {
  const mismatch = new DigestMismatchError(
    "torch-2.5.1-cp311-cp311-linux_x86_64.whl",
    "a".repeat(64),
    "b".repeat(64),
  );
  assert.ok(mismatch instanceof FreshmirrorError);
  assert.equal(mismatch.code, "FM_ERR_DIGEST_MISMATCH");
  assert.equal(mismatch.status, 502);
  assert.match(mismatch.message, /torch-2\.5\.1-cp311.*a{64}.*b{64}/);
  const status = new UpstreamStatusError("http://127.0.0.1:1/whl/cu121/torch/", 500);
  assert.match(status.message, /HTTP 500 .*whl\/cu121\/torch/);
  assert.equal(status.name, "UpstreamStatusError");
});
