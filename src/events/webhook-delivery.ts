// Webhook hooks: the event as a JSON POST, signed with HMAC-SHA256 when the hook has a secret,
// retried with exponential backoff on network errors, timeouts and 5xx/408/429. Every attempt goes
// to the delivery log; the result says how the last one went. Never throws.

import { createHmac } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { request } from "undici";
import { backoffDelay } from "../upstream/backoff.js";
import type { AttemptRecord } from "./delivery-log.js";
import type { FreshmirrorEvent } from "./event-bus.js";
import type { WebhookHookConfig } from "./hook-config.js";
import { errorText, type HookResult } from "./hook-result.js";

const USER_AGENT = "freshmirror-hooks";

export interface WebhookDeliveryContext {
  /** Where `secret_env` is read from. */
  env: NodeJS.ProcessEnv;
  /** First retry delay; doubled on each retry. */
  backoffBaseMs: number;
  /** Longest delay between attempts. */
  maxBackoffMs: number;
  /** Aborted at shutdown: the request in flight and the backoff wait end, no retry follows. */
  closing: AbortSignal;
  record: (entry: AttemptRecord) => void;
}

interface AttemptOutcome {
  ok: boolean;
  retryable: boolean;
  status?: number;
  error?: string;
}

/** The `X-Freshmirror-Signature` value for a body: `sha256=<hex HMAC-SHA256>`. */
export function signBody(body: string | Buffer, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** POSTs `event` to the hook's URL, retrying as configured; resolves with the outcome. */
export async function deliverWebhook(
  hook: WebhookHookConfig,
  event: FreshmirrorEvent,
  delivery: string,
  context: WebhookDeliveryContext,
): Promise<HookResult> {
  const started = Date.now();
  const body = JSON.stringify(event);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": USER_AGENT,
    "x-freshmirror-event": event.type,
    "x-freshmirror-delivery": delivery,
  };
  const secret = hook.secret ?? (hook.secretEnv === undefined ? undefined : context.env[hook.secretEnv]);
  const base = { hook: hook.id, kind: "webhook" as const, event, delivery };
  if (hook.secretEnv !== undefined && (secret === undefined || secret === "")) {
    // Sending it unsigned would let the receiver accept what it cannot verify.
    const error = `environment variable ${hook.secretEnv} (secret_env) is not set; not sent`;
    context.record({ ...base, attempt: 1, ok: false, error, durationMs: 0, retrying: false });
    return { ...base, ok: false, attempts: 0, durationMs: 0, error };
  }
  if (secret !== undefined) headers["x-freshmirror-signature"] = signBody(body, secret);

  const closing = context.closing;
  let outcome: AttemptOutcome = { ok: false, retryable: false, error: "not attempted" };
  let attempt = 0;
  for (;;) {
    attempt++;
    const attemptStarted = Date.now();
    outcome = await postOnce(hook, body, headers, closing);
    const retrying = !outcome.ok && outcome.retryable && attempt <= hook.retries && !closing.aborted;
    context.record({
      ...base,
      attempt,
      ok: outcome.ok,
      ...(outcome.status === undefined ? {} : { status: outcome.status }),
      ...(outcome.error === undefined ? {} : { error: outcome.error }),
      durationMs: Date.now() - attemptStarted,
      retrying,
    });
    if (!retrying) break;
    // Shutdown ends the wait early (the rejection is that abort, handled just below).
    await delay(
      // Exact doubling (no jitter): the delivery log promises these waits.
      backoffDelay(attempt - 1, {
        baseMs: context.backoffBaseMs,
        maxMs: context.maxBackoffMs,
        jitter: false,
      }),
      undefined,
      {
        signal: closing,
      },
    ).catch(() => undefined);
    if (closing.aborted) {
      outcome = { ...outcome, error: `${outcome.error ?? "failed"}; not retried: shutting down` };
      break;
    }
  }
  return {
    ...base,
    ok: outcome.ok,
    attempts: attempt,
    durationMs: Date.now() - started,
    ...(outcome.status === undefined ? {} : { status: outcome.status }),
    ...(outcome.error === undefined ? {} : { error: outcome.error }),
  };
}

async function postOnce(
  hook: WebhookHookConfig,
  body: string,
  headers: Record<string, string>,
  closing: AbortSignal,
): Promise<AttemptOutcome> {
  const timeout = AbortSignal.timeout(hook.timeoutMs);
  const signal = AbortSignal.any([timeout, closing]);
  try {
    const response = await request(hook.url, {
      method: "POST",
      headers,
      body,
      signal,
      headersTimeout: hook.timeoutMs,
      bodyTimeout: hook.timeoutMs,
    });
    // The receiver's answer is not used; read it (bounded by the timeout) so the socket is reused.
    await response.body.dump({ limit: 64 * 1024 });
    const status = response.statusCode;
    if (status >= 200 && status < 300) return { ok: true, retryable: false, status };
    return {
      ok: false,
      retryable: status >= 500 || status === 408 || status === 429,
      status,
      error: `receiver answered HTTP ${status}`,
    };
  } catch (error) {
    if (timeout.aborted)
      return { ok: false, retryable: true, error: `no answer within ${hook.timeoutMs} ms` };
    if (closing.aborted) return { ok: false, retryable: false, error: "cancelled: shutting down" };
    const code = (error as { code?: string }).code;
    if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT") {
      return { ok: false, retryable: true, error: `no answer within ${hook.timeoutMs} ms` };
    }
    // Connection refused or reset, DNS: the receiver may come back.
    return { ok: false, retryable: true, error: errorText(error) };
  }
}
