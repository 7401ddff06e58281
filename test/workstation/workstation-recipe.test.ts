// The workstation recipe's documents and its hook script, checked without building anything: the
// README's freshmirror config for the hook is a valid config (`freshmirror config check`), the
// compose file gives each user a GPU, limits, volumes and ports of their own and no secret, and
// build.sh refuses what it must not build (no version, a version that is not one, no registry).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { parse } from "yaml";
import { cliArgv } from "../helpers/freshmirror-cli.js";
import { repoRoot } from "../helpers/repo-root.js";
import { runLogged } from "./workstation-base.js";

const RECIPE = join(repoRoot(), "images", "pytorch-cuda");

describe("the workstation recipe's config, compose file and hook script", () => {
  const dir = mkdtempSync(join(tmpdir(), "fm-ws-recipe-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("the README's freshmirror config for the hook passes `freshmirror config check`", async () => {
    const readme = readFileSync(join(repoRoot(), "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## A team GPU workstation"));
    const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(block, "the section has a yaml block");
    const yaml = block.replace(/^ {3}/gm, "");
    const config = parse(yaml) as { hooks: { command: string[]; env: Record<string, string> }[] };
    const hook = config.hooks[0];
    assert.deepEqual(hook?.command, ["images/pytorch-cuda/build.sh", "{version}"]);
    assert.ok(hook?.env.REGISTRY && hook.env.MIRROR_URL && hook.env.BASE_IMAGE);
    const file = join(dir, "freshmirror.yaml");
    writeFileSync(file, yaml.replace("data_dir: ./data", `data_dir: ${join(dir, "data")}`));
    const check = await runLogged(process.execPath, [...cliArgv(), "config", "check", "--config", file], {
      allowFailure: true,
    });
    assert.equal(check.code, 0, `${check.stdout}\n${check.stderr}`);
  });

  test("compose.yaml: one container per user, each with its GPU, limits, volumes and ports, and no secret inline", () => {
    const compose = parse(readFileSync(join(RECIPE, "compose.yaml"), "utf8"), { merge: true }) as {
      services: Record<
        string,
        {
          image: string;
          ports: string[];
          volumes: string[];
          environment: Record<string, string>;
          deploy: {
            resources: {
              limits: { cpus: string; memory: string };
              reservations?: { devices: { driver: string; device_ids?: string[]; capabilities: string[] }[] };
            };
          };
        }
      >;
    };
    const services = Object.entries(compose.services);
    assert.ok(services.length >= 2);
    const hostPorts = services.flatMap(([, s]) => s.ports.map((p) => p.split(":").slice(-2, -1)[0]));
    assert.equal(new Set(hostPorts).size, hostPorts.length, `distinct host ports: ${hostPorts.join(", ")}`);
    const gpus: string[] = [];
    for (const [name, service] of services) {
      assert.match(service.image, /pytorch-cuda/);
      assert.ok(
        service.ports.some((p) => p.endsWith(":8888")) && service.ports.some((p) => p.endsWith(":2222")),
        name,
      );
      assert.ok(service.volumes.includes(`${name}-workspace:/workspace`), `${name}: its own workspace`);
      assert.ok(
        service.volumes.includes(`${name}-state:/var/lib/workstation`),
        `${name}: its own state volume`,
      );
      assert.ok(
        service.deploy.resources.limits.cpus && service.deploy.resources.limits.memory,
        `${name}: limits`,
      );
      assert.equal(
        service.environment.JUPYTER_TOKEN,
        undefined,
        `${name}: the token comes from a secret file`,
      );
      const devices = service.deploy.resources.reservations?.devices ?? [];
      if (service.environment.EXPECT_CUDA === "1") {
        assert.equal(devices[0]?.driver, "nvidia", `${name}: a GPU reservation`);
        assert.deepEqual(devices[0]?.capabilities, ["gpu"]);
        gpus.push(...(devices[0]?.device_ids ?? []));
      }
    }
    assert.ok(gpus.length >= 2);
    assert.equal(new Set(gpus).size, gpus.length, "each GPU seat has its own GPU");
  });

  test("build.sh refuses a missing or malformed version and a missing registry, before building anything", async () => {
    const buildSh = join(RECIPE, "build.sh");
    const env = { REGISTRY: "127.0.0.1:1/lab/ws", MIRROR_URL: "http://127.0.0.1:1", BUILDER: "none-such" };
    const none = await runLogged(buildSh, [], { allowFailure: true, env });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /usage: build\.sh <torch version>/);
    for (const bad of ["2.7.1; rm -rf /", "latest", "../2.7.1", "2.7.1 --push"]) {
      const result = await runLogged(buildSh, [bad], { allowFailure: true, env });
      assert.equal(result.code, 2, bad);
      assert.match(result.stderr, /not a torch version/);
    }
    const noRegistry = await runLogged(buildSh, ["2.7.1"], {
      allowFailure: true,
      env: { ...env, REGISTRY: "" },
    });
    assert.equal(noRegistry.code, 2);
    assert.match(noRegistry.stderr, /set REGISTRY/);
    // A good version gets as far as choosing the builder (here an unknown one).
    const good = await runLogged(buildSh, ["2.7.1+cu126"], { allowFailure: true, env });
    assert.equal(good.code, 2);
    assert.match(good.stderr, /BUILDER must be docker, buildah or auto, not none-such/);
  });
});
