// A client for an upstream registry's pull API:
// https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pull
// - manifests by tag or digest (GET and HEAD), with the Accept list of every manifest type we serve,
//   read bounded to 4 MiB and checked against Docker-Content-Digest or the digest asked for;
// - blobs as a stream, with an optional Range, redirects followed to storage hosts without the
//   Authorization header (RFC 9110 section 15.4: it belongs to the registry, not to the CDN);
// - tag lists with `n`/`last` and `Link` pagination;
// - a 401 runs the token flow (registry-auth.ts) and the request is retried once.
// It sends nothing itself: every request goes through the mirror's UpstreamClient
// (src/upstream/http-client.ts), so the mirror's upstream_timeout, connection pools, circuit
// breaker (max_fails, fail_timeout) and request count apply to registries as to PyPI indexes.
// Manifests, tag lists and error bodies are read under a deadline of upstream_timeout that aborts
// the request; credentials stay out of errors.
import { UpstreamNetworkError, UpstreamStatusError, UpstreamTimeoutError } from "../errors.js";
import type { StreamResponse, UpstreamClient } from "../upstream/http-client.js";
import { nextLink } from "./link-header.js";
import { MAX_MANIFEST_BYTES, type Manifest, parseManifest } from "./manifest.js";
import { MANIFEST_ACCEPT } from "./media-types.js";
import { type Digest, parseDigest, parseManifestReference, validateName } from "./reference.js";
import { RegistryAuth, type RegistryCredentials } from "./registry-auth.js";
import { OciError, type OciErrorCode, parseOciErrorBody, parseRetryAfter } from "./registry-errors.js";
import type { TokenCache } from "./token-cache.js";

export interface RegistryClientOptions {
  /** The registry's origin, e.g. `https://registry-1.docker.io`; no credentials in it. */
  baseUrl: string;
  /**
   * The mirror's upstream client: every request (the registry's, its token server's, its storage
   * hosts') goes through it, under its timeouts, pools, breaker and request count. Its
   * `hostPolicy` is "follow-upstream" for blob redirects to storage hosts and a token realm on
   * another host to be reached.
   */
  http: UpstreamClient;
  credentials?: RegistryCredentials;
  tokenCache?: TokenCache;
}

export interface RequestOptions {
  signal?: AbortSignal;
}

export interface FetchedManifest {
  manifest: Manifest;
  /** Digest of the raw bytes (equal to Docker-Content-Digest when the registry sent one). */
  digest: string;
  raw: Buffer;
  contentType: string | undefined;
}

export interface ManifestHead {
  digest: string | undefined;
  mediaType: string | undefined;
  size: number | undefined;
}

export interface BlobResponse {
  /** 200 for the whole blob, 206 when a Range was honoured. */
  status: 200 | 206;
  /** The upstream client's response body: consume it, or dump() or destroy() it. */
  body: StreamResponse["body"];
  contentLength: number | undefined;
  contentRange: string | undefined;
  /** Where the bytes came from after redirects (no query string: signed URLs stay out of logs). */
  servedFrom: string;
}

export interface TagPage {
  name: string;
  tags: string[];
  /** Pass as `last` for the next page; undefined on the last page. */
  nextLast: string | undefined;
}

const MAX_TAG_LIST_BYTES = 16 * 1024 * 1024;
const MAX_ERROR_BODY_BYTES = 64 * 1024;

function header(headers: StreamResponse["headers"], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** A URL as reported: no query string, so a storage host's signed URL stays out of messages. */
function redacted(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/** A 2xx answer from the registry (or the storage host it redirected to). */
interface Sent {
  response: StreamResponse;
  url: URL;
  /** The deadline of a bounded read (manifests, tag lists); undefined for blobs. */
  deadline: AbortSignal | undefined;
}

export class RegistryClient {
  readonly baseUrl: URL;
  readonly #http: UpstreamClient;
  readonly #auth: RegistryAuth;

  constructor(options: RegistryClientOptions) {
    const base = new URL(options.baseUrl);
    if (base.username || base.password)
      throw new OciError(
        "UNAUTHORIZED",
        "put registry credentials in the credentials option, not in the URL",
        {
          status: 500,
        },
      );
    if (base.protocol !== "https:" && base.protocol !== "http:")
      throw new OciError("UNSUPPORTED", `registry URL must be http(s), not ${base.protocol}`, {
        status: 500,
      });
    this.baseUrl = new URL(base.origin);
    this.#http = options.http;
    const authOptions: ConstructorParameters<typeof RegistryAuth>[0] = {
      registryUrl: this.baseUrl,
      http: this.#http,
    };
    if (options.credentials) authOptions.credentials = options.credentials;
    if (options.tokenCache) authOptions.tokenCache = options.tokenCache;
    this.#auth = new RegistryAuth(authOptions);
  }

  async getManifest(name: string, ref: string, options: RequestOptions = {}): Promise<FetchedManifest> {
    const reference = this.#checkReference(name, ref);
    const sent = await this.#send(
      "GET",
      name,
      `/v2/${name}/manifests/${ref}`,
      { accept: MANIFEST_ACCEPT },
      options,
      { notFound: "MANIFEST_UNKNOWN" },
    );
    const declared = Number(header(sent.response.headers, "content-length"));
    if (declared > MAX_MANIFEST_BYTES) {
      sent.response.body.destroy();
      throw new OciError(
        "MANIFEST_INVALID",
        `manifest ${name}:${ref} is ${declared} bytes, over the 4 MiB limit`,
        { status: 502 },
      );
    }
    const raw = await this.#readBounded(sent, MAX_MANIFEST_BYTES, `manifest ${name}:${ref}`);
    const contentType = header(sent.response.headers, "content-type");
    const headerDigest = header(sent.response.headers, "docker-content-digest");
    let expected: Digest | undefined = reference.kind === "digest" ? reference.digest : undefined;
    if (expected === undefined && headerDigest !== undefined) {
      const parsed = parseDigest(headerDigest);
      if (!(parsed instanceof OciError)) expected = parsed;
    }
    const parseOptions: Parameters<typeof parseManifest>[1] = {};
    if (contentType !== undefined) parseOptions.contentType = contentType;
    if (expected !== undefined) parseOptions.expectedDigest = expected;
    const manifest = parseManifest(raw, parseOptions);
    if (manifest instanceof OciError) {
      throw new OciError(manifest.ociCode, `upstream manifest ${name}:${ref}: ${manifest.message}`, {
        status: 502,
        detail: manifest.detail,
      });
    }
    return { manifest, digest: manifest.digest.value, raw, contentType };
  }

  async headManifest(name: string, ref: string, options: RequestOptions = {}): Promise<ManifestHead> {
    this.#checkReference(name, ref);
    const sent = await this.#send(
      "HEAD",
      name,
      `/v2/${name}/manifests/${ref}`,
      { accept: MANIFEST_ACCEPT },
      options,
      { notFound: "MANIFEST_UNKNOWN" },
    );
    await sent.response.body.dump();
    const length = header(sent.response.headers, "content-length");
    return {
      digest: header(sent.response.headers, "docker-content-digest"),
      mediaType: header(sent.response.headers, "content-type"),
      size: length === undefined ? undefined : Number(length),
    };
  }

  /**
   * Opens a blob as a stream; the caller must consume or destroy `body`. The bytes are not
   * verified here: the store hashes them as it writes. `range` is inclusive, as in HTTP.
   */
  async getBlob(
    name: string,
    digest: string,
    options: RequestOptions & { range?: { start: number; end?: number } } = {},
  ): Promise<BlobResponse> {
    const bad = validateName(name);
    if (bad) throw bad;
    const parsed = parseDigest(digest);
    if (parsed instanceof OciError) throw parsed;
    const headers: Record<string, string> = {};
    if (options.range) headers.range = `bytes=${options.range.start}-${options.range.end ?? ""}`;
    const sent = await this.#send("GET", name, `/v2/${name}/blobs/${digest}`, headers, options, {
      notFound: "BLOB_UNKNOWN",
      stream: true,
    });
    const { status } = sent.response;
    const length = header(sent.response.headers, "content-length");
    return {
      status: status === 206 ? 206 : 200,
      body: sent.response.body,
      contentLength: length === undefined ? undefined : Number(length),
      contentRange: header(sent.response.headers, "content-range"),
      servedFrom: redacted(sent.url),
    };
  }

  /** One page of a repository's tags (`n` per page, after `last`). */
  async listTags(
    name: string,
    page: { n?: number; last?: string } = {},
    options: RequestOptions = {},
  ): Promise<TagPage> {
    const bad = validateName(name);
    if (bad) throw bad;
    const query = new URLSearchParams();
    if (page.n !== undefined) query.set("n", String(page.n));
    if (page.last !== undefined) query.set("last", page.last);
    const qs = query.size > 0 ? `?${query}` : "";
    const sent = await this.#send(
      "GET",
      name,
      `/v2/${name}/tags/list${qs}`,
      { accept: "application/json" },
      options,
      { notFound: "NAME_UNKNOWN" },
    );
    const raw = await this.#readBounded(sent, MAX_TAG_LIST_BYTES, `tag list of ${name}`);
    let body: { tags?: unknown };
    try {
      body = JSON.parse(raw.toString("utf8")) as { tags?: unknown };
    } catch {
      throw new OciError("NAME_UNKNOWN", `tag list of ${name} from upstream is not JSON`, { status: 502 });
    }
    // Registries answer `"tags": null` for a repository with no tags.
    const tags = Array.isArray(body.tags) ? body.tags.filter((t): t is string => typeof t === "string") : [];
    const link = nextLink(sent.response.headers.link);
    let nextLast: string | undefined;
    if (link !== undefined) {
      const next = new URL(link, sent.url);
      nextLast = next.searchParams.get("last") ?? undefined;
    }
    // A next link that does not move forward would loop forever.
    if (nextLast !== undefined && nextLast === page.last) nextLast = undefined;
    return { name, tags, nextLast };
  }

  /** Every tag, following pagination; stops after `maxPages` pages. */
  async listAllTags(
    name: string,
    pageSize = 1000,
    maxPages = 10_000,
    options: RequestOptions = {},
  ): Promise<string[]> {
    const all: string[] = [];
    let last: string | undefined;
    for (let i = 0; i < maxPages; i++) {
      const page = await this.listTags(
        name,
        last === undefined ? { n: pageSize } : { n: pageSize, last },
        options,
      );
      all.push(...page.tags);
      if (page.nextLast === undefined) return all;
      last = page.nextLast;
    }
    throw new OciError("SIZE_INVALID", `tag list of ${name} has more than ${maxPages} pages`, {
      status: 502,
    });
  }

  #checkReference(name: string, ref: string) {
    const bad = validateName(name);
    if (bad) throw bad;
    const reference = parseManifestReference(ref);
    if (reference instanceof OciError) throw reference;
    return reference;
  }

  /**
   * Sends a request to the registry through the upstream client, answering one 401 with
   * credentials (the token flow, or Basic). The Authorization goes to the registry's origin only:
   * the upstream client drops it when a redirect leaves for a storage host. Returns only 2xx;
   * other statuses become errors. Everything but a blob body (a manifest, a tag list, an error
   * body) is read under a deadline of `upstream_timeout`, headers and body together, that aborts
   * the request; a blob's body is guarded by the client's idle timeout, as long as it streams.
   */
  async #send(
    method: "GET" | "HEAD",
    name: string,
    path: string,
    headers: Record<string, string>,
    options: RequestOptions,
    answer: { notFound: OciErrorCode; stream?: boolean },
  ): Promise<Sent> {
    const url = new URL(path, this.baseUrl);
    const bounded = answer.stream !== true;
    let authorization = this.#auth.cachedAuthorization(name);
    let authorized = false;
    for (;;) {
      const timeoutMs = this.#http.options.timeoutMs;
      const deadline = bounded ? AbortSignal.timeout(timeoutMs) : undefined;
      const signals = [options.signal, deadline].filter((s): s is AbortSignal => s !== undefined);
      const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
      const response = await this.#http
        .send(method, url.toString(), headers, {
          pool: bounded ? "page" : "file",
          authorization: authorization ?? null,
          ...(signal ? { signal } : {}),
        })
        .catch((error: unknown) => {
          throw deadline?.aborted ? new UpstreamTimeoutError(redacted(url), timeoutMs) : error;
        });
      const sent: Sent = { response, url: new URL(response.url), deadline };
      const { status } = response;
      if (status >= 200 && status < 300) return sent;
      const body =
        method === "HEAD"
          ? ""
          : await this.#readBounded(sent, MAX_ERROR_BODY_BYTES, path).then(
              (b) => b.toString("utf8"),
              () => "",
            );
      if (method === "HEAD") await response.body.dump().catch(() => undefined);
      if (status === 401 && !authorized) {
        authorized = true;
        authorization = await this.#auth.authorize(
          name,
          response.headers["www-authenticate"],
          authorization,
          options.signal,
        );
        continue;
      }
      throw this.#statusError(status, sent, body, name, path, answer.notFound, authorization);
    }
  }

  #statusError(
    status: number,
    sent: Sent,
    body: string,
    name: string,
    path: string,
    notFound: OciErrorCode,
    authorization: string | undefined,
  ): Error {
    const spec = parseOciErrorBody(body);
    const where = redacted(sent.url);
    if (status === 401) return this.#auth.refusal(name, authorization);
    if (status === 404) {
      const code =
        spec &&
        (spec.code === "NAME_UNKNOWN" || spec.code === "MANIFEST_UNKNOWN" || spec.code === "BLOB_UNKNOWN")
          ? spec.code
          : notFound;
      return new OciError(code, `${path.split("?")[0]} not found upstream at ${this.baseUrl.host}`, {
        detail: { name },
      });
    }
    if (status === 403)
      return new OciError("DENIED", `${this.baseUrl.host} denied access to ${name}`, { detail: { name } });
    if (status === 429) {
      const retryAfter = parseRetryAfter(header(sent.response.headers, "retry-after"));
      return new OciError(
        "TOOMANYREQUESTS",
        `${this.baseUrl.host} is rate limiting (HTTP 429) for ${where}`,
        {
          ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
        },
      );
    }
    if (status === 416) return new OciError("RANGE_INVALID", `${where}: range not satisfiable`);
    return new UpstreamStatusError(where, status);
  }

  /** Reads a body of at most `limit` bytes; past its deadline, an UpstreamTimeoutError. */
  async #readBounded(sent: Sent, limit: number, what: string): Promise<Buffer> {
    const { body } = sent.response;
    const chunks: Buffer[] = [];
    let length = 0;
    try {
      for await (const chunk of body) {
        length += (chunk as Buffer).length;
        if (length > limit) {
          body.destroy();
          throw new OciError("SIZE_INVALID", `${what} from upstream is larger than ${limit} bytes`, {
            status: 502,
          });
        }
        chunks.push(chunk as Buffer);
      }
    } catch (error) {
      if (error instanceof OciError) throw error;
      if (sent.deadline?.aborted)
        throw new UpstreamTimeoutError(redacted(sent.url), this.#http.options.timeoutMs);
      throw new UpstreamNetworkError(redacted(sent.url), error);
    }
    return Buffer.concat(chunks);
  }
}
