import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { buildWheel } from "../../test/fixtures/wheel-builder.js";
import { buildZip, type ZipEntry } from "../../test/fixtures/zip-writer.js";
import { withFileRangeSource } from "../store/fs/file-range-source.js";
import {
  type ExtractWheelMetadataOptions,
  extractWheelMetadata as extractFromSource,
} from "./wheel-metadata.js";

/** The reader takes a range source; these cases keep their wheels in files. */
function extractWheelMetadata(path: string, options?: ExtractWheelMetadataOptions): Promise<Buffer> {
  const label = options?.filename === undefined ? path : `${options.filename} (${path})`;
  return withFileRangeSource(path, (source) => extractFromSource(source, { label, ...options }));
}

const run = promisify(execFile);
const REAL_TORCH = "/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl";
const REAL_WHEELS = "/opt/pypi/files";

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** sha256 of each wheel's top-level METADATA as Python's zipfile reads it. */
async function pythonMetadataHashes(paths: string[]): Promise<Record<string, string>> {
  const code = `
import hashlib, json, sys, zipfile
out = {}
for path in sys.argv[1:]:
    z = zipfile.ZipFile(path)
    names = [n for n in z.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
    out[path] = hashlib.sha256(z.read(names[0])).hexdigest() if len(names) == 1 else "found %d" % len(names)
print(json.dumps(out))
`;
  const { stdout } = await run("python3", ["-c", code, ...paths], { maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as Record<string, string>;
}

const METADATA = Buffer.from("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n");

function zipWith(entries: ZipEntry[], zip64 = false): Buffer {
  return buildZip([{ name: "demo/__init__.py", data: Buffer.from("x = 1\n"), compress: true }, ...entries], {
    zip64,
  });
}

describe("extractWheelMetadata", () => {
  let dir: string;
  let counter = 0;
  const file = async (bytes: Buffer, name = `w${counter++}.whl`): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, bytes);
    return path;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "freshmirror-wheel-metadata-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("returns the METADATA bytes of a built wheel, checked against its filename", async () => {
    const wheel = buildWheel({
      project: "torch",
      version: "2.5.1+cu121",
      pythonTag: "cp311",
      abiTag: "cp311",
      platformTag: "linux_x86_64",
      dependencies: ["filelock"],
      payloadBytes: 100_000,
    });
    // Stored under a content-addressed name, as in the blob store.
    const path = await file(wheel.bytes, wheel.sha256);
    assert.deepEqual(await extractWheelMetadata(path), wheel.metadata);
    assert.deepEqual(await extractWheelMetadata(path, { filename: wheel.filename }), wheel.metadata);
  });

  test("reads stored entries and ZIP64 archives", async () => {
    for (const zip64 of [false, true]) {
      for (const compress of [false, true]) {
        const path = await file(
          zipWith([{ name: "demo-1.0.dist-info/METADATA", data: METADATA, compress }], zip64),
        );
        assert.deepEqual(
          await extractWheelMetadata(path, { filename: "demo-1.0-py3-none-any.whl" }),
          METADATA,
        );
      }
    }
  });

  test("matches the filename as PEP 503 names do, and rejects another project or version", async () => {
    const path = await file(zipWith([{ name: "Flask_Bcrypt-1.0.1.dist-info/METADATA", data: METADATA }]));
    assert.deepEqual(
      await extractWheelMetadata(path, { filename: "flask_bcrypt-1.0.1-py3-none-any.whl" }),
      METADATA,
    );
    await assert.rejects(
      extractWheelMetadata(path, { filename: "flask_bcrypt-1.0.2-py3-none-any.whl" }),
      /Flask_Bcrypt-1\.0\.1\.dist-info does not match the filename's project and version flask_bcrypt-1\.0\.2/,
    );
    await assert.rejects(
      extractWheelMetadata(path, { filename: "flask-1.0.1-py3-none-any.whl" }),
      /does not match/,
    );
    await assert.rejects(
      extractWheelMetadata(path, { filename: "flask_bcrypt-1.0.1.tar.gz" }),
      /not a wheel filename/,
    );
  });

  test("needs exactly one METADATA at the top level", async () => {
    const none = await file(zipWith([{ name: "demo/demo-1.0.dist-info/METADATA", data: METADATA }]));
    await assert.rejects(extractWheelMetadata(none), (error: Error) => {
      assert.ok(error.message.includes(none), "the message names the file");
      assert.match(error.message, /no <name>\.dist-info\/METADATA at the top level/);
      return true;
    });
    const several = await file(
      zipWith([
        { name: "demo-1.0.dist-info/METADATA", data: METADATA },
        { name: "other-2.0.dist-info/METADATA", data: METADATA },
      ]),
    );
    await assert.rejects(
      extractWheelMetadata(several),
      /several METADATA files: demo-1\.0\.dist-info\/METADATA, other-2\.0\.dist-info\/METADATA/,
    );
  });

  test("checks CRC-32, size limit and compression method", async () => {
    const good = zipWith([{ name: "demo-1.0.dist-info/METADATA", data: METADATA }]);
    const dataAt = good.indexOf(METADATA);
    const corrupt = Buffer.from(good);
    corrupt[dataAt + 5] = (corrupt[dataAt + 5] ?? 0) ^ 0x20;
    await assert.rejects(extractWheelMetadata(await file(corrupt)), /fails its CRC-32 check/);

    await assert.rejects(
      extractWheelMetadata(await file(good), { maxBytes: 10 }),
      new RegExp(`is ${METADATA.length} bytes, over the limit of 10`),
    );
    const deflated = await file(
      zipWith([{ name: "demo-1.0.dist-info/METADATA", data: METADATA, compress: true }]),
    );
    await assert.rejects(extractWheelMetadata(deflated, { maxBytes: 10 }), /over the limit of 10/);

    // Method 12 (bzip2) in both the local and the central header.
    const bzip2 = Buffer.from(good);
    const name = Buffer.from("demo-1.0.dist-info/METADATA");
    const local = bzip2.lastIndexOf(name, dataAt) - 30;
    const central = bzip2.lastIndexOf(name) - 46;
    bzip2.writeUInt16LE(12, local + 8);
    bzip2.writeUInt16LE(12, central + 10);
    await assert.rejects(extractWheelMetadata(await file(bzip2)), /uses compression method 12/);
  });

  test("rejects files that are not whole zip archives", async () => {
    await assert.rejects(extractWheelMetadata(await file(Buffer.alloc(10))), /too small to be a zip file/);
    await assert.rejects(
      extractWheelMetadata(await file(Buffer.from("<html>not a wheel</html>".repeat(10)))),
      /no end of central directory record/,
    );
    const wheel = buildWheel({ project: "demo", version: "1.0", payloadBytes: 10_000 });
    await assert.rejects(
      extractWheelMetadata(await file(wheel.bytes.subarray(0, wheel.bytes.length - 30))),
      /no end of central directory record/,
    );
    // A download that lost its middle: the end record points at offsets that are not there.
    const spliced = Buffer.concat([wheel.bytes.subarray(0, 1000), wheel.bytes.subarray(5000)]);
    await assert.rejects(extractWheelMetadata(await file(spliced)), /cannot read core metadata from wheel/);
    await assert.rejects(extractWheelMetadata(join(dir, "missing.whl")), { code: "ENOENT" });
  });

  test("reads a real torch wheel in a few milliseconds", async (t) => {
    if (!existsSync(REAL_TORCH)) {
      t.skip(`${REAL_TORCH} is absent`);
      return;
    }
    const filename = REAL_TORCH.slice(REAL_TORCH.lastIndexOf("/") + 1);
    const timings: number[] = [];
    let metadata: Buffer = Buffer.alloc(0);
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      metadata = await extractWheelMetadata(REAL_TORCH, { filename });
      timings.push(performance.now() - started);
    }
    const size = statSync(REAL_TORCH).size;
    t.diagnostic(
      `torch wheel of ${(size / 1e6).toFixed(0)} MB: METADATA ${metadata.length} bytes in ` +
        `${timings.map((ms) => ms.toFixed(1)).join(", ")} ms`,
    );
    assert.match(metadata.toString(), /^Name: torch\nVersion: 2\.13\.0\+cpu$/m);
    const expected = await pythonMetadataHashes([REAL_TORCH]);
    assert.equal(sha256(metadata), expected[REAL_TORCH]);
    assert.ok(Math.min(...timings) < 100, "reads only the central directory and one entry");
  });

  test("agrees with Python's zipfile on real wheels from PyPI", async (t) => {
    if (!existsSync(REAL_WHEELS)) {
      t.skip(`${REAL_WHEELS} is absent`);
      return;
    }
    // Every 25th wheel by name plus the three largest: old and new builders, 100 kB to 250 MB.
    const all = readdirSync(REAL_WHEELS)
      .filter((name) => name.endsWith(".whl"))
      .sort();
    const largest = [...all].sort(
      (a, b) => statSync(join(REAL_WHEELS, b)).size - statSync(join(REAL_WHEELS, a)).size,
    );
    const chosen = [...new Set([...all.filter((_, i) => i % 25 === 0), ...largest.slice(0, 3)])];
    if (chosen.length === 0) {
      t.skip(`no wheels in ${REAL_WHEELS}`);
      return;
    }
    const expected = await pythonMetadataHashes(chosen.map((name) => join(REAL_WHEELS, name)));
    const started = performance.now();
    for (const name of chosen) {
      const path = join(REAL_WHEELS, name);
      assert.equal(sha256(await extractWheelMetadata(path, { filename: name })), expected[path], name);
    }
    t.diagnostic(`${chosen.length} wheels in ${(performance.now() - started).toFixed(0)} ms`);
  });
});
