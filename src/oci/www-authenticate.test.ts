import assert from "node:assert/strict";
import { test } from "node:test";
import { findBearerChallenge, hasBasicChallenge, parseWwwAuthenticate } from "./www-authenticate.js";

test("Docker Hub's Bearer challenge", () => {
  const header =
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"';
  const challenges = parseWwwAuthenticate(header);
  assert.deepEqual(challenges, [
    {
      scheme: "bearer",
      params: {
        realm: "https://auth.docker.io/token",
        service: "registry.docker.io",
        scope: "repository:library/alpine:pull",
      },
    },
  ]);
  assert.deepEqual(findBearerChallenge(challenges), {
    realm: "https://auth.docker.io/token",
    service: "registry.docker.io",
    scopes: ["repository:library/alpine:pull"],
  });
});

test("quoted-pairs, spaces around '=', unquoted tokens, case-insensitive names", () => {
  const [c] = parseWwwAuthenticate(
    'Bearer  Realm = "https://a.example/t?x=\\"y\\"" , service=reg.example ,scope="a b", error="insufficient_scope"',
  );
  assert.equal(c?.scheme, "bearer");
  assert.equal(c?.params.realm, 'https://a.example/t?x="y"');
  assert.equal(c?.params.service, "reg.example");
  const bearer = findBearerChallenge(c ? [c] : []);
  assert.deepEqual(bearer?.scopes, ["a", "b"]);
  assert.equal(bearer?.error, "insufficient_scope");
});

test("several challenges in one header and across headers, Basic and token68 included", () => {
  const challenges = parseWwwAuthenticate([
    'Basic realm="Registry Realm", charset="UTF-8", Bearer realm="https://t.example/token",service="s"',
    "Negotiate abc+/def==, Custom",
  ]);
  assert.deepEqual(
    challenges.map((c) => c.scheme),
    ["basic", "bearer", "negotiate", "custom"],
  );
  assert.equal(challenges[0]?.params.realm, "Registry Realm");
  assert.equal(challenges[0]?.params.charset, "UTF-8");
  assert.equal(challenges[1]?.params.service, "s");
  assert.equal(challenges[2]?.token68, "abc+/def==");
  assert.ok(hasBasicChallenge(challenges));
  assert.equal(findBearerChallenge(challenges)?.realm, "https://t.example/token");
});

test("malformed headers give what parsed before the fault, never throw", () => {
  assert.deepEqual(parseWwwAuthenticate(undefined), []);
  assert.deepEqual(parseWwwAuthenticate(""), []);
  const unterminated = parseWwwAuthenticate('Bearer realm="https://x');
  assert.equal(unterminated.length, 1);
  assert.equal(unterminated[0]?.params.realm, undefined);
  assert.equal(findBearerChallenge(unterminated), undefined, "no realm, no usable challenge");
  assert.deepEqual(parseWwwAuthenticate("=== ,,,").length, 0);
  const first = parseWwwAuthenticate('Bearer realm="a",realm="b"');
  assert.equal(first[0]?.params.realm, "a", "the first of a repeated parameter wins");
  // A huge header is cut, not parsed for ever.
  assert.ok(parseWwwAuthenticate(`Bearer realm="${"x".repeat(100_000)}"`).length <= 1);
});
