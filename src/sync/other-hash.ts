// Hashes an index may give instead of sha256 (PEP 503 fragments and PEP 691 `hashes` use Python
// hashlib's names): a file listed with only `#sha512=…` or `#md5=…` is checked against that too,
// so "no sha256" never means "not verified". sha256 stays the store's address; these are checked
// once over the written bytes, before the commit.
import { createHash } from "node:crypto";
import type { BlobHandle } from "../store/blob-store.js";

/** hashlib's name -> Node's (OpenSSL's) name and the hex length of a digest. */
const ALGORITHMS: Record<string, { node: string; hexLength: number }> = {
  sha512: { node: "sha512", hexLength: 128 },
  sha3_512: { node: "sha3-512", hexLength: 128 },
  blake2b: { node: "blake2b512", hexLength: 128 },
  sha384: { node: "sha384", hexLength: 96 },
  sha3_384: { node: "sha3-384", hexLength: 96 },
  sha3_256: { node: "sha3-256", hexLength: 64 },
  blake2s: { node: "blake2s256", hexLength: 64 },
  sha224: { node: "sha224", hexLength: 56 },
  sha3_224: { node: "sha3-224", hexLength: 56 },
  sha1: { node: "sha1", hexLength: 40 },
  md5: { node: "md5", hexLength: 32 },
};

/** A digest other than sha256 that downloaded bytes must match: `{ name: "sha512", hex }`. */
export interface OtherHash {
  /** hashlib's name, as the index wrote it. */
  name: string;
  /** Lower-case hex. */
  hex: string;
}

/**
 * The strongest hash among `hashes` (hashlib name -> hex, as an index gave them) that can be
 * checked here, other than sha256; undefined when there is none or a value is not a digest of
 * its algorithm's length.
 */
export function strongestOtherHash(hashes: Readonly<Record<string, string>>): OtherHash | undefined {
  for (const [name, { hexLength }] of Object.entries(ALGORITHMS)) {
    const hex = hashes[name]?.toLowerCase();
    if (hex !== undefined && hex.length === hexLength && /^[0-9a-f]+$/.test(hex)) return { name, hex };
  }
  return undefined;
}

/** `sha512=<hex>`, the form stored with a file's record and written in page fragments. */
export function formatOtherHash(hash: OtherHash): string {
  return `${hash.name}=${hash.hex}`;
}

/** The inverse of formatOtherHash; undefined for anything else. */
export function parseOtherHash(text: string | null | undefined): OtherHash | undefined {
  const at = text?.indexOf("=") ?? -1;
  if (text === null || text === undefined || at <= 0) return undefined;
  return strongestOtherHash({ [text.slice(0, at)]: text.slice(at + 1) });
}

const READ_CHUNK = 1 << 20;

/** The `hash.name` digest (hex) of `size` bytes read from `source`. */
export async function hashBytes(source: BlobHandle, size: number, name: string): Promise<string> {
  const algorithm = ALGORITHMS[name];
  if (algorithm === undefined) throw new Error(`no hash algorithm "${name}"`);
  const hash = createHash(algorithm.node);
  const buffer = Buffer.allocUnsafe(READ_CHUNK);
  for (let position = 0; position < size; ) {
    const n = await source.readInto(buffer, 0, Math.min(READ_CHUNK, size - position), position);
    if (n === 0) break;
    hash.update(buffer.subarray(0, n));
    position += n;
  }
  return hash.digest("hex");
}
