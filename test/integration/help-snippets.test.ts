// The help page's snippets, run as the page shows them: the text is taken from the rendered
// `/help/<mirror>` HTML of a real `freshmirror serve` (mirrors synced from the fixture upstream)
// and run with bash by the real tools: pip always, Poetry (Debian's python3-poetry) and pdm
// (python3-pdm) where installed. Each runs with HOME, config, cache and data dirs in a temp dir,
// no PIP_* variables, no system pip config (XDG_CONFIG_DIRS moved away), no proxy: only
// loopback. uv is not installable here: its TOML is parsed by Python's tomllib and its URLs checked.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type PypiUpstream, publishTorchLike, startPypiUpstream } from "../fixtures/pypi-upstream.js";
import { createWorkspace, type MirrorWorkspace, type RunningServe } from "../helpers/freshmirror-cli.js";
import { pipAvailable, pipEnv } from "../helpers/pip.js";

const DEMO = "fmhelpdemo";
// No name: an application, not a library, so pdm does not install it too (which would need
// setuptools from the index).
const APP_PROJECT = `[project]\nrequires-python = ">=3.9"\ndependencies = []\n`;

/** The text of `<pre id="ID"><code>…</code></pre>`, unescaped as a browser would show it. */
export function snippet(html: string, id: string): string {
  const match = new RegExp(`<pre id="${id}"><code>([\\s\\S]*?)</code></pre>`).exec(html);
  assert.ok(match, `the page has a snippet #${id}`);
  return (match[1] as string)
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, "&");
}

function toolVersion(command: string, args: string[]): string | undefined {
  const result = spawnSync(command, args, { encoding: "utf8", timeout: 60_000 });
  return result.status === 0 ? `${result.stdout}${result.stderr}`.trim() : undefined;
}

interface ShellResult {
  code: number;
  out: string;
}

/** Runs a script with `bash -e` (each line as a user would type it) in `cwd`. */
function shell(script: string, cwd: string, env: Record<string, string>, timeoutMs = 300_000) {
  return new Promise<ShellResult>((resolve, reject) => {
    const child = spawn("bash", ["-e", "-c", script], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      out += c.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out: `$ ${script}\n${out}` });
    });
  });
}

describe("help page snippets, run as shown", () => {
  let upstream: PypiUpstream;
  let ws: MirrorWorkspace;
  let server: RunningServe;
  let pypiHelp: string;
  let torchHelp: string;
  let root: string;
  let pipOk = false;

  before(async () => {
    pipOk = await pipAvailable();
    upstream = await startPypiUpstream();
    await publishTorchLike(upstream);
    // A name no wheel store on this machine has: an install of it can only come from the mirror.
    await upstream.publish({ index: "simple", project: DEMO, version: "1.0", dependencies: ["filelock"] });
    ws = createWorkspace({
      mirrors: {
        pypi: {
          type: "pypi",
          upstream: upstream.url,
          indexes: ["simple"],
          projects: [DEMO, "filelock", "typing-extensions"],
        },
        pytorch: {
          type: "pypi",
          upstream: upstream.url,
          indexes: ["whl/cu121", "whl/cpu"],
          projects: ["torch", "filelock", "typing-extensions"],
          versions: { torch: ">=2.6" },
          python: ["cp311", "cp312"],
          platforms: ["linux_x86_64"],
        },
      },
    });
    for (const mirror of ["pypi", "pytorch"]) {
      const sync = await ws.cli(["sync", mirror]);
      assert.equal(sync.code, 0, `sync ${mirror}:\n${sync.stdout}\n${sync.stderr}`);
    }
    server = await ws.serve();
    pypiHelp = await (await fetch(`${server.url}/help/pypi`)).text();
    torchHelp = await (await fetch(`${server.url}/help/pytorch`)).text();
    root = mkdtempSync(join(tmpdir(), "fm-snippets-"));
  });

  after(async () => {
    await ws?.cleanup();
    await upstream?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** A fresh home for one tool: HOME, XDG dirs and a project dir, all under the temp root. */
  function home(name: string): { dir: string; project: string; env: Record<string, string> } {
    const dir = join(root, name);
    const project = join(dir, "project");
    mkdirSync(project, { recursive: true });
    mkdirSync(join(dir, "xdg-dirs"), { recursive: true });
    const env: Record<string, string> = {
      ...pipEnv(),
      HOME: dir,
      XDG_CONFIG_HOME: join(dir, ".config"),
      XDG_CACHE_HOME: join(dir, ".cache"),
      XDG_DATA_HOME: join(dir, ".local", "share"),
      // The machine's /etc/xdg/pip/pip.conf (constraints, extra indexes) must not apply.
      XDG_CONFIG_DIRS: join(dir, "xdg-dirs"),
      POETRY_CONFIG_DIR: join(dir, "poetry-config"),
      POETRY_CACHE_DIR: join(dir, "poetry-cache"),
      POETRY_DATA_DIR: join(dir, "poetry-data"),
      POETRY_VIRTUALENVS_IN_PROJECT: "true",
      PDM_CHECK_UPDATE: "false",
      PDM_IGNORE_SAVED_PYTHON: "1",
    };
    return { dir, project, env };
  }

  test("the snippets name this server's URLs (the page was read at its own address)", () => {
    assert.equal(
      snippet(pypiHelp, "pip-install"),
      `pip install --index-url ${server.url}/pypi/simple ${DEMO}`,
    );
    assert.match(
      snippet(torchHelp, "pip-install"),
      new RegExp(`--index-url ${server.url}/pytorch/whl/cu121 torch$`),
    );
  });

  test("pip: `pip install --index-url`, in a venv made as the page shows", async (t) => {
    if (!pipOk) return t.skip("python3 -m pip is not available");
    const { project, env } = home("venv");
    const run = await shell(snippet(pypiHelp, "venv"), project, env);
    assert.equal(run.code, 0, run.out);
    assert.match(run.out, new RegExp(`Successfully installed .*${DEMO}-1\\.0`), run.out);
    // And the one-liner, in the same venv, for torch from the PyTorch mirror.
    const torch = await shell(`. .venv/bin/activate\n${snippet(torchHelp, "pip-install")}`, project, env);
    assert.equal(torch.code, 0, torch.out);
    assert.match(torch.out, /Successfully installed .*torch-2\.6\.0\+cu121/, torch.out);
  });

  test("pip: `pip config set` and pip.conf make the mirror pip's index", async (t) => {
    if (!pipOk) return t.skip("python3 -m pip is not available");
    const venv = home("pip-venv");
    const made = await shell("python3 -m venv .venv", venv.project, venv.env);
    assert.equal(made.code, 0, made.out);
    const python = join(venv.project, ".venv", "bin");
    for (const id of ["pip-config", "pip-conf"]) {
      const { dir, project, env } = home(id);
      env.PATH = `${python}:${env.PATH ?? ""}`;
      let setup = "";
      if (id === "pip-conf") {
        // The file as the page shows it, where pip reads a user's config.
        mkdirSync(join(dir, ".config", "pip"), { recursive: true });
        writeFileSync(join(dir, ".config", "pip", "pip.conf"), `${snippet(pypiHelp, id)}\n`);
      } else {
        setup = `${snippet(pypiHelp, id)}\n`;
      }
      // User config files are read (not /dev/null), the machine's are not (XDG_CONFIG_DIRS).
      delete env.PIP_CONFIG_FILE;
      const run = await shell(
        `${setup}pip config list\npip uninstall -y ${DEMO} filelock >/dev/null 2>&1 || true\npip install ${DEMO}`,
        project,
        env,
      );
      assert.equal(run.code, 0, run.out);
      assert.match(
        run.out,
        new RegExp(
          `user\\.index-url='${server.url}/pypi/simple'|global\\.index-url='${server.url}/pypi/simple'`,
        ),
        run.out,
      );
      assert.match(run.out, new RegExp(`Looking in indexes: ${server.url}/pypi/simple\\n`), run.out);
      assert.match(run.out, new RegExp(`Successfully installed .*${DEMO}-1\\.0`), run.out);
    }
  });

  const poetry = toolVersion("poetry", ["--version"]);
  test("Poetry 1.x (Debian's): the default source, then torch from its variant index", {
    skip: poetry === undefined ? "poetry is not installed (Debian: apt-get install python3-poetry)" : false,
  }, async () => {
    const major = /version (\d+)\./.exec(poetry ?? "")?.[1];
    const [mainId, torchId] = major === "1" ? ["poetry1", "poetry1-pytorch"] : ["poetry", "poetry-pytorch"];
    const { project, env } = home("poetry");
    const init = await shell(`poetry init --no-interaction --name app --python '^3.9'`, project, env);
    assert.equal(init.code, 0, init.out);
    const main = await shell(snippet(pypiHelp, mainId), project, env);
    assert.equal(main.code, 0, main.out);
    const torch = await shell(snippet(torchHelp, torchId), project, env);
    assert.equal(torch.code, 0, torch.out);
    const lock = readFileSync(join(project, "poetry.lock"), "utf8");
    assert.match(lock, new RegExp(`name = "${DEMO}"\\nversion = "1.0"`));
    assert.match(lock, /name = "torch"\nversion = "2\.6\.0\+cu121"/);
    assert.ok(lock.includes(`${server.url}/pytorch/whl/cu121`), "torch's source is the variant index");
    const pyproject = readFileSync(join(project, "pyproject.toml"), "utf8");
    assert.match(pyproject, /name = "pypi-mirror"/);
    const installed = await shell(".venv/bin/python -c 'import fmhelpdemo, torch'", project, env);
    assert.equal(installed.code, 0, installed.out);
  });

  const pdm = toolVersion("pdm", ["--version"]);
  test("pdm: `pdm config pypi.url`, then `pdm add`", {
    skip: pdm === undefined ? "pdm is not installed (Debian: apt-get install python3-pdm)" : false,
  }, async () => {
    const { project, env } = home("pdm");
    writeFileSync(join(project, "pyproject.toml"), `${APP_PROJECT}`);
    const run = await shell(snippet(pypiHelp, "pdm"), project, env);
    assert.equal(run.code, 0, run.out);
    const lock = readFileSync(join(project, "pdm.lock"), "utf8");
    assert.match(lock, new RegExp(`name = "${DEMO}"\\nversion = "1.0"`));
    // The project-level form: the same install with only pyproject.toml's source.
    const { project: second, env: env2 } = home("pdm-toml");
    writeFileSync(join(second, "pyproject.toml"), `${APP_PROJECT}\n${snippet(pypiHelp, "pdm-toml")}\n`);
    const add = await shell(`pdm add ${DEMO}`, second, env2);
    assert.equal(add.code, 0, add.out);
    assert.match(readFileSync(join(second, "pdm.lock"), "utf8"), new RegExp(`name = "${DEMO}"`));
  });

  test("uv (not installable here): its TOML parses and names this mirror's indexes", () => {
    const check = (toml: string) => {
      const result = spawnSync(
        "python3",
        ["-c", "import json, sys, tomllib; print(json.dumps(tomllib.loads(sys.stdin.read())))"],
        { input: toml, encoding: "utf8" },
      );
      assert.equal(result.status, 0, result.stderr);
      return JSON.parse(result.stdout) as {
        tool: {
          uv: {
            index: { name: string; url: string; default?: boolean; explicit?: boolean }[];
            sources?: Record<string, { index: string }>;
          };
        };
      };
    };
    const main = check(snippet(pypiHelp, "uv-toml"));
    assert.deepEqual(main.tool.uv.index, [
      { name: "pypi-mirror", url: `${server.url}/pypi/simple`, default: true },
    ]);
    const torch = check(snippet(torchHelp, "uv-pytorch"));
    assert.deepEqual(torch.tool.uv.index, [
      { name: "pytorch-cu121", url: `${server.url}/pytorch/whl/cu121`, explicit: true },
    ]);
    assert.deepEqual(torch.tool.uv.sources, { torch: { index: "pytorch-cu121" } });
    assert.equal(
      snippet(pypiHelp, "uv-env"),
      `export UV_DEFAULT_INDEX=${server.url}/pypi/simple\nuv pip install ${DEMO}`,
    );
  });
});
