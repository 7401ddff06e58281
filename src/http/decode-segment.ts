import { BadRequestPathError } from "../errors.js";

/** One percent-decoded path segment; a bad escape (`%ff`, `%s`) is the client's error, a 400. */
export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadRequestPathError(`bad percent-encoding in ${JSON.stringify(segment)}`);
  }
}
