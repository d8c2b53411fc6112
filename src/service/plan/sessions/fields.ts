// A session's errors name the field as the caller spelled it: CreateSession's template lives under
// `plan.` (plan.cem.elites), a step's observation and goal are `observation` and `goal`, not the
// start_frame and cost.goal of the PlanRequest the step runs.
import { ServiceError, echo, invalidArgument } from "../../../core/errors";

/** `err` with its INVALID_ARGUMENT field renamed by `rename` (undefined: kept); other errors as they are. */
export function withFieldRenamed(err: unknown, rename: (field: string) => string | undefined): unknown {
  if (!(err instanceof ServiceError) || err.reason !== "INVALID_ARGUMENT") return err;
  const field = err.details.field;
  if (typeof field !== "string") return err;
  const to = rename(field);
  if (to === undefined || to === field) return err;
  const prefix = `${echo(field)}: `;
  const rest = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
  const { field: _old, ...others } = err.details;
  return invalidArgument(to, rest, others);
}

export const inTemplate = (field: string): string => (field === "execute_steps" ? field : `plan.${field}`);

/** The PlanRequest fields a step fills from its own message. */
export const inStep = (field: string): string | undefined => ({ start_frame: "observation", "cost.goal": "goal" })[field];
