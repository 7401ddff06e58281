import assert from "node:assert/strict";
import { test } from "node:test";
import { mirrorStatusFixture } from "../../test/helpers/mirror-status-fixture.js";
import { parseConfigText } from "../app/load-config.js";
import { mirrorzDocument, mirrorzStatus } from "./mirrorz.js";

const s = (ms: number) => Math.floor(ms / 1000);
const OK = Date.UTC(2025, 2, 1, 2, 10, 5);
const START = Date.UTC(2025, 2, 1, 2, 0, 0);
const NEXT = Date.UTC(2025, 2, 2, 2, 0, 0);
const base = { lastSuccessAt: OK, lastAttemptAt: START, lastEndedAt: OK, nextRunAt: NEXT };

test("mirrorz status strings: one main status with its timestamp, then O (last ok) and X (next)", () => {
  const cases: [Parameters<typeof mirrorStatusFixture>[0], string][] = [
    [{ state: "success" }, `S${s(OK)}X${s(NEXT)}`],
    [{ state: "syncing", lastAttemptAt: NEXT - 60_000 }, `Y${s(NEXT - 60_000)}O${s(OK)}`],
    [{ state: "failed", lastEndedAt: START + 5000 }, `F${s(START + 5000)}O${s(OK)}X${s(NEXT)}`],
    [{ state: "failed", lastSuccessAt: null, lastEndedAt: START + 5000 }, `F${s(START + 5000)}X${s(NEXT)}`],
    [{ state: "pre-syncing" }, `DX${s(NEXT)}`],
    [{ state: "paused", pausedAt: START, nextRunAt: null }, `P${s(START)}`],
    [{ state: "none", lastSuccessAt: null, lastAttemptAt: null, lastEndedAt: null }, `UX${s(NEXT)}`],
    [{ state: "none", mode: "proxy", nextRunAt: null }, "C"],
    [{ state: "success", mode: "proxy" }, "C"],
  ];
  for (const [patch, expected] of cases) {
    const status = mirrorzStatus(mirrorStatusFixture({ ...base, ...patch }));
    assert.equal(status, expected, JSON.stringify(patch));
    assert.match(status, /^([A-Z]\d*)+$/);
    assert.equal(status.match(/[SDYFPCRU]/g)?.length, 1, "exactly one main status");
  }
});

test("the document: version 1.7, site from the config, mirrors without disabled ones", () => {
  const config = parseConfigText(
    "public_url: https://mirrors.example.edu/\nsite: { name: Example, email: ops@example.edu }\nmirrors: {}\n",
    "t",
  );
  const doc = mirrorzDocument(config, "https://mirrors.example.edu", [
    mirrorStatusFixture(base),
    mirrorStatusFixture({ name: "off", state: "disabled" }),
    mirrorStatusFixture({ name: "pypi", mode: "proxy", description: undefined, totalSize: 0, fileCount: 0 }),
  ]);
  assert.equal(doc.version, 1.7);
  assert.deepEqual(doc.site, {
    url: "https://mirrors.example.edu",
    abbr: "MIRRORS",
    name: "Example",
    email: "ops@example.edu",
  });
  assert.deepEqual(doc.info, []);
  assert.deepEqual(doc.mirrors, [
    {
      cname: "pytorch",
      desc: "PyTorch wheels",
      url: "/pytorch",
      status: `S${s(OK)}X${s(NEXT)}`,
      help: "/help/pytorch",
      upstream: "https://download.pytorch.org",
      size: "5.29G",
    },
    {
      cname: "pypi",
      desc: "",
      url: "/pypi",
      status: "C",
      help: "/help/pypi",
      upstream: "https://download.pytorch.org",
      size: "unknown",
    },
  ]);
});
