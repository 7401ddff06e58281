// `/static/workstation/`: the team GPU workstation recipe (images/pytorch-cuda/ in this project:
// Containerfile, entrypoint, build.sh release hook, compose.yaml) served as plain text, so the
// help pages can link it and an admin can fetch it with curl from the mirror itself. Only the
// folder's own regular files, by exact name; a build without the folder answers 404.
import { readdirSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { escapeHtml } from "./html-escape.js";
import type { RouteResult } from "./route-handler.js";

export const RECIPE_URL = "/static/workstation/";

/** images/pytorch-cuda beside src/ (source) or dist/src/ (built). */
function recipeDir(): string | undefined {
  const here = fileURLToPath(new URL(".", import.meta.url));
  for (const up of ["../../images/pytorch-cuda", "../../../images/pytorch-cuda"]) {
    const dir = join(here, up);
    try {
      if (statSync(dir).isDirectory()) return dir;
    } catch {
      // not here
    }
  }
  return undefined;
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function recipeFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isFile() && SAFE_NAME.test(entry.name))
    .map((entry) => entry.name)
    .sort();
}

function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
): RouteResult {
  res.statusCode = status;
  res.setHeader("Content-Type", type);
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.setHeader("Cache-Control", "public, max-age=300");
  res.end(req.method === "HEAD" ? undefined : body);
  return { route: "static", status, bytes: Buffer.byteLength(body) };
}

/** Serves the listing (`name` empty) or one file of the recipe. */
export async function serveRecipe(
  req: IncomingMessage,
  res: ServerResponse,
  name: string,
): Promise<RouteResult> {
  const dir = recipeDir();
  const files = dir ? recipeFiles(dir) : [];
  if (!dir || files.length === 0)
    return send(
      req,
      res,
      404,
      "text/plain; charset=utf-8",
      "the workstation recipe is not part of this build\n",
    );
  if (name === "") {
    const items = files.map(
      (f) => `<li><a href="${RECIPE_URL}${encodeURIComponent(f)}">${escapeHtml(f)}</a></li>`,
    );
    const body = `<!doctype html><meta charset="utf-8"><title>Workstation image recipe</title><h1>PyTorch-CUDA workstation image recipe</h1><p>Build it from this mirror: see README.md.</p><ul>${items.join("")}</ul>\n`;
    return send(req, res, 200, "text/html; charset=utf-8", body);
  }
  if (!files.includes(name)) return send(req, res, 404, "text/plain; charset=utf-8", "no such recipe file\n");
  const text = await readFile(join(dir, name), "utf8");
  const type = name.endsWith(".md") ? "text/markdown; charset=utf-8" : "text/plain; charset=utf-8";
  return send(req, res, 200, type, text);
}
