// The handler type of the server's route table: the request, the response, the matched params
// and the query string (with its "?", or ""); it answers and says what it served (for metrics).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RouteParams } from "./route-table.js";

export interface RouteResult {
  route: string;
  status: number;
  bytes: number;
  /** For files: served from the store, or fetched on demand (X-Cache: HIT, MISS or COALESCED). */
  cache?: "HIT" | "MISS" | "COALESCED";
  /** The mirror a pull-through result counts under. */
  mirror?: string;
}

export type RouteHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  params: RouteParams,
  query: string,
) => Promise<RouteResult> | RouteResult;
