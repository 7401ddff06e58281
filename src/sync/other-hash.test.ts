import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import type { BlobHandle } from "../store/blob-store.js";
import { formatOtherHash, hashBytes, parseOtherHash, strongestOtherHash } from "./other-hash.js";

const hex = (algorithm: string, bytes: Buffer) => createHash(algorithm).update(bytes).digest("hex");

/** A BlobHandle over a buffer that answers at most `step` bytes per read (short reads). */
function handleOf(bytes: Buffer, step = 7): BlobHandle {
  return {
    size: bytes.length,
    readRange: async (start, end) => bytes.subarray(start, end),
    readInto: async (buffer, offset, length, position) =>
      bytes.copy(buffer, offset, position, Math.min(position + Math.min(length, step), bytes.length)),
    close: async () => undefined,
  };
}

test("the strongest checkable hash other than sha256 is chosen; malformed values and unknown names are not", () => {
  const bytes = Buffer.from("wheel bytes");
  const md5 = hex("md5", bytes);
  const sha512 = hex("sha512", bytes);
  assert.deepEqual(strongestOtherHash({ md5, sha512: sha512.toUpperCase() }), {
    name: "sha512",
    hex: sha512,
  });
  assert.deepEqual(strongestOtherHash({ md5, sha256: hex("sha256", bytes) }), { name: "md5", hex: md5 });
  assert.equal(
    strongestOtherHash({ sha256: hex("sha256", bytes) }),
    undefined,
    "sha256 is not an other hash",
  );
  assert.equal(strongestOtherHash({ sha512: md5 }), undefined, "a value of the wrong length");
  assert.equal(strongestOtherHash({ sha512: `${sha512.slice(1)}g` }), undefined, "not hex");
  assert.equal(strongestOtherHash({ whirlpool: sha512 }), undefined, "a name hashlib does not guarantee");
  assert.deepEqual(strongestOtherHash({ sha512: "z".repeat(128), md5 }), { name: "md5", hex: md5 });
});

test("formatOtherHash and parseOtherHash round-trip; anything else parses to undefined", () => {
  const hash = { name: "sha384", hex: hex("sha384", Buffer.from("x")) };
  assert.equal(formatOtherHash(hash), `sha384=${hash.hex}`);
  assert.deepEqual(parseOtherHash(formatOtherHash(hash)), hash);
  for (const text of [null, undefined, "", "sha384", "=abc", `sha384=${hash.hex}0`, "md5=zz"])
    assert.equal(parseOtherHash(text), undefined, String(text));
});

test("hashBytes reads the whole source through short reads, for every algorithm an index may name", async () => {
  const bytes = Buffer.from(Array.from({ length: 3 * (1 << 20) + 5 }, (_, i) => i % 251));
  const node: Record<string, string> = {
    sha512: "sha512",
    sha384: "sha384",
    sha224: "sha224",
    sha1: "sha1",
    md5: "md5",
    sha3_256: "sha3-256",
    blake2b: "blake2b512",
    blake2s: "blake2s256",
  };
  for (const [name, algorithm] of Object.entries(node))
    assert.equal(await hashBytes(handleOf(bytes, 300_001), bytes.length, name), hex(algorithm, bytes), name);
  assert.equal(await hashBytes(handleOf(Buffer.from("abc")), 3, "md5"), hex("md5", Buffer.from("abc")));
  await assert.rejects(
    hashBytes(handleOf(bytes), bytes.length, "whirlpool"),
    /no hash algorithm "whirlpool"/,
  );
});
