// Command hooks: an argv list run without a shell, the event's fields substituted into `{mirror}`
// `{project}` `{version}` `{event}` and given in FRESHMIRROR_* variables. At its timeout the
// command's whole process group gets SIGTERM, then SIGKILL after a grace period. Its output (the
// last bytes) goes into the result. Never throws.
import { type ChildProcess, spawn } from "node:child_process";
import type { AttemptRecord } from "./delivery-log.js";
import { eventSubject, type FreshmirrorEvent } from "./event-bus.js";
import type { CommandHookConfig } from "./hook-config.js";
import { errorText, type HookResult } from "./hook-result.js";
import { OutputTail } from "./output-tail.js";

export interface CommandHookContext {
  /** The environment commands inherit. */
  env: NodeJS.ProcessEnv;
  /** Working directory; the process's when undefined. */
  cwd: string | undefined;
  /** Output kept per run (its last bytes). */
  outputLimitBytes: number;
  /** Between SIGTERM and SIGKILL when a command times out. */
  killGraceMs: number;
  /** Aborted at shutdown: no new command starts. */
  closing: AbortSignal;
  /** Commands running now; the owner kills their groups at shutdown (`killGroup`). */
  children: Set<ChildProcess>;
  record: (entry: AttemptRecord) => void;
}

/** Substitutes `{mirror}` `{project}` `{version}` `{event}` in one argument; other braces stay. */
export function substitutePlaceholders(arg: string, event: FreshmirrorEvent): string {
  const subject = eventSubject(event);
  const values: Record<string, string> = {
    mirror: subject.mirror,
    project: subject.project ?? "",
    version: subject.version ?? "",
    event: event.type,
  };
  return arg.replace(/\{(mirror|project|version|event)\}/g, (_, name: string) => values[name] ?? "");
}

/** Sends `signal` to the child's process group (to the child alone on Windows). */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined && process.platform !== "win32") process.kill(-child.pid, signal);
    else child.kill(signal);
  } catch {
    // The group is already gone.
  }
}

/** Runs the hook's command for `event` once; resolves when it has ended (or was killed). */
export function runCommandHook(
  hook: CommandHookConfig,
  event: FreshmirrorEvent,
  delivery: string,
  context: CommandHookContext,
): Promise<HookResult> {
  const started = Date.now();
  const argv = hook.command.map((arg) => substitutePlaceholders(arg, event));
  const subject = eventSubject(event);
  const env: NodeJS.ProcessEnv = {
    ...context.env,
    ...hook.env,
    FRESHMIRROR_EVENT: event.type,
    FRESHMIRROR_EVENT_ID: String(event.id),
    FRESHMIRROR_DELIVERY: delivery,
    FRESHMIRROR_MIRROR: subject.mirror,
    FRESHMIRROR_PROJECT: subject.project ?? "",
    FRESHMIRROR_VERSION: subject.version ?? "",
    FRESHMIRROR_EVENT_JSON: JSON.stringify(event),
  };
  const base = { hook: hook.id, kind: "command" as const, event, delivery, argv };
  const output = new OutputTail(context.outputLimitBytes);

  return new Promise<HookResult>((resolve) => {
    let child: ChildProcess;
    const finish = (fields: Partial<HookResult> & { ok: boolean }) => {
      const durationMs = Date.now() - started;
      context.record({
        hook: hook.id,
        kind: "command",
        event,
        delivery,
        attempt: 1,
        ok: fields.ok,
        ...(fields.exitCode === undefined ? {} : { exitCode: fields.exitCode }),
        ...(fields.signal === undefined ? {} : { signal: fields.signal }),
        ...(fields.timedOut ? { timedOut: true } : {}),
        ...(fields.error === undefined ? {} : { error: fields.error }),
        durationMs,
        retrying: false,
      });
      resolve({ ...base, attempts: 1, durationMs, output: output.toString(), ...fields });
    };
    if (context.closing.aborted) {
      finish({ ok: false, error: "cancelled: shutting down" });
      return;
    }
    try {
      child = spawn(argv[0] as string, argv.slice(1), {
        cwd: context.cwd,
        env,
        // Its own process group, so a timeout kills everything it started.
        detached: process.platform !== "win32",
        stdio: ["ignore", "pipe", "pipe"],
        shell: false,
        windowsHide: true,
      });
    } catch (error) {
      finish({ ok: false, error: `cannot run ${argv[0]}: ${errorText(error)}` });
      return;
    }
    context.children.add(child);
    child.stdout?.on("data", (chunk: Buffer) => output.push(chunk));
    child.stderr?.on("data", (chunk: Buffer) => output.push(chunk));

    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    let pipeTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, "SIGTERM");
      killTimer = setTimeout(() => killGroup(child, "SIGKILL"), context.killGraceMs);
    }, hook.timeoutMs);

    let settled = false;
    const settle = (fields: Partial<HookResult> & { ok: boolean }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      // Whatever of its group outlived a timed-out leader (ignoring SIGTERM) goes now.
      if (timedOut) killGroup(child, "SIGKILL");
      clearTimeout(pipeTimer);
      context.children.delete(child);
      finish(fields);
    };
    child.on("error", (error) => settle({ ok: false, error: `cannot run ${argv[0]}: ${errorText(error)}` }));
    const onEnd = (code: number | null, signal: NodeJS.Signals | null) => {
      if (timedOut) {
        settle({
          ok: false,
          timedOut: true,
          ...(code === null ? {} : { exitCode: code }),
          ...(signal === null ? {} : { signal }),
          error: `killed after its timeout of ${hook.timeoutMs} ms`,
        });
      } else if (code === 0) {
        settle({ ok: true, exitCode: 0 });
      } else if (code !== null) {
        settle({ ok: false, exitCode: code, error: `exited with code ${code}` });
      } else {
        settle({ ok: false, ...(signal === null ? {} : { signal }), error: `ended by signal ${signal}` });
      }
    };
    // "close" waits for the output pipes; a background process it left behind may hold them
    // open, so after "exit" the output is waited for only briefly.
    child.on("close", onEnd);
    child.on("exit", (code, signal) => {
      pipeTimer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        onEnd(code, signal);
      }, 1000);
    });
  });
}
