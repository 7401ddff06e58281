import assert from "node:assert/strict";
import { test } from "node:test";
import { PublicUrl } from "./public-url.js";

test("public URL: a configured public_url is never replaced by the listen address", () => {
  const url = new PublicUrl("https://mirrors.example.edu", true);
  url.fixAtListen("http://127.0.0.1:8080");
  assert.equal(url.get(), "https://mirrors.example.edu");
});

test("public URL: without public_url it is fixed once, at listen time, and then stays", () => {
  const url = new PublicUrl("http://localhost:8080", false);
  assert.equal(url.get(), "http://localhost:8080");
  url.fixAtListen("http://host-a:41234");
  url.fixAtListen("http://host-b:1");
  assert.equal(url.get(), "http://host-a:41234");
});
