// Runs async work one piece at a time, in the order asked. What reads state and then writes it
// (with awaits between, as every state repository call is one) runs in one piece, so no other
// piece of the same queue interleaves with it. One failed piece does not stop the next.
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(work);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
