// A token server for tests, as Docker Hub's auth.docker.io behaves:
// https://distribution.github.io/distribution/spec/auth/token/ (token issue) and
// https://distribution.github.io/distribution/spec/auth/jwt/ (the JWT the registry verifies).
// It signs RS256 JWTs whose header carries the certificate (x5c); docker-registry is configured
// with that certificate as `auth.token.rootcertbundle`. Like Docker Hub it grants a scope with
// no actions instead of refusing, for repositories the asker may not pull.
import { execFile } from "node:child_process";
import { createPrivateKey, randomUUID, sign, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface TokenServerOptions {
  /** Directory for the key and certificate. */
  dir: string;
  service?: string;
  issuer?: string;
  /** username -> password accepted as Basic credentials. */
  users?: Record<string, string>;
  /** Repositories anonymous callers may pull. Users may pull and push any repository not in `missing`. */
  anonymousPull?: (repository: string) => boolean;
  /** Repositories that "do not exist": granted with no actions to everyone, as Docker Hub does. */
  missing?: (repository: string) => boolean;
  expiresInSeconds?: number;
}

export interface TokenRequestLog {
  account: string | undefined;
  scopes: string[];
  /** Whether the request carried an Authorization header (never the value). */
  hadCredentials: boolean;
  status: number;
}

export interface TokenServer {
  url: string;
  realm: string;
  service: string;
  issuer: string;
  certPath: string;
  requests: TokenRequestLog[];
  close(): Promise<void>;
}

function b64url(value: Buffer | string): string {
  return Buffer.from(value).toString("base64url");
}

/** Makes a self-signed RSA certificate with openssl; Node cannot create certificates itself. */
async function makeCertificate(dir: string): Promise<{ keyPath: string; certPath: string }> {
  const keyPath = join(dir, "token-key.pem");
  const certPath = join(dir, "token-cert.pem");
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    keyPath,
    "-out",
    certPath,
    "-days",
    "2",
    "-subj",
    "/CN=freshmirror-test-token-issuer",
  ]);
  return { keyPath, certPath };
}

export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const service = options.service ?? "freshmirror-test-registry";
  const issuer = options.issuer ?? "freshmirror-test-issuer";
  const { keyPath, certPath } = await makeCertificate(options.dir);
  const key = createPrivateKey(await readFile(keyPath));
  const certDer = new X509Certificate(await readFile(certPath)).raw;
  const requests: TokenRequestLog[] = [];

  function issue(account: string | undefined, scopes: string[]): string {
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.flatMap((scope) => {
      const [type, ...rest] = scope.split(":");
      const actions = (rest.pop() ?? "").split(",").filter(Boolean);
      const name = rest.join(":");
      if (type !== "repository" || !name) return [];
      let granted: string[];
      if (options.missing?.(name)) granted = [];
      else if (account !== undefined) granted = actions;
      else granted = options.anonymousPull?.(name) ? actions.filter((a) => a === "pull") : [];
      return [{ type, name, actions: granted }];
    });
    const header = { typ: "JWT", alg: "RS256", x5c: [certDer.toString("base64")] };
    const claims = {
      iss: issuer,
      sub: account ?? "",
      aud: service,
      exp: now + (options.expiresInSeconds ?? 300),
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    return `${signingInput}.${b64url(sign("sha256", Buffer.from(signingInput), key))}`;
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const scopes = url.searchParams.getAll("scope");
    const auth = req.headers.authorization;
    let account: string | undefined;
    let status = 200;
    if (url.pathname !== "/token") status = 404;
    else if (auth !== undefined) {
      const decoded = auth.startsWith("Basic ") ? Buffer.from(auth.slice(6), "base64").toString("utf8") : "";
      const colon = decoded.indexOf(":");
      const user = decoded.slice(0, colon);
      if (colon > 0 && options.users?.[user] === decoded.slice(colon + 1)) account = user;
      else status = 401;
    }
    requests.push({ account, scopes, hadCredentials: auth !== undefined, status });
    if (status !== 200) {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ details: status === 401 ? "incorrect username or password" : "not found" }));
      return;
    }
    const token = issue(account, scopes);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        token,
        access_token: token,
        expires_in: options.expiresInSeconds ?? 300,
        issued_at: new Date().toISOString(),
      }),
    );
  }

  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    realm: `${url}/token`,
    service,
    issuer,
    certPath,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
