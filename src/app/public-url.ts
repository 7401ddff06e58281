// The base URL clients reach this server at, for URLs in events and webhooks: `public_url`, or
// (when it is not set) what `serve` learns when it binds its socket. Fixed once, before the
// server handles a request or the scheduler starts; never changed after.
export class PublicUrl {
  #value: string;
  #fixed: boolean;

  constructor(configured: string, isConfigured: boolean) {
    this.#value = configured;
    this.#fixed = isConfigured;
  }

  get(): string {
    return this.#value;
  }

  /** Sets the URL found at listen time; a configured `public_url` wins, and it is set only once. */
  fixAtListen(url: string): void {
    if (this.#fixed) return;
    this.#value = url;
    this.#fixed = true;
  }
}
