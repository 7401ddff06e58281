// What config loading needs from a mirror kind: its zod schema (one `mirrors:` entry, told apart
// by `type`), checks across fields, and the resolver to the frozen camelCase config. The kinds
// come from the composition root (src/app/mirror-kinds.ts); src/config names no ecosystem.
import type { z } from "zod";
import type { SubjectMatcher } from "../events/subject-matcher.js";
import type { MirrorConfigBase } from "./base-mirror.js";

export interface MirrorSchemaKind<C extends MirrorConfigBase = MirrorConfigBase> {
  /** The config `type` this kind answers to. */
  readonly type: string;
  /** Zod schema of one mirror entry (snake_case YAML), with `type: z.literal(<type>)`. */
  readonly schema: z.ZodObject<z.ZodRawShape & { type: z.ZodLiteral<string> }>;
  /** Config problems across fields (a message per problem, `path` under `mirrors.<name>`). */
  check?(name: string, parsed: unknown): { path: (string | number)[]; message: string }[];
  /**
   * Problems across mirrors of this kind (e.g. two OCI mirrors claiming one registry name),
   * each a full message with its field path.
   */
  checkAll?(mirrors: readonly C[]): string[];
  /** The frozen camelCase config of one parsed entry; `problems` gets what only the env can tell. */
  resolve(name: string, parsed: unknown, env: NodeJS.ProcessEnv, problems: string[]): C;
  /** How events name this kind's subjects (hooks' `versions` are checked with it). */
  readonly subjects: SubjectMatcher;
}

/** The kinds a config may use, and the matcher for hooks that name no mirror. */
export interface ConfigKinds {
  readonly kinds: readonly MirrorSchemaKind[];
  readonly defaultSubjects: SubjectMatcher;
}
