// A JobsSql whose `n`th job-row INSERT fails, as a lost connection between a job's short row statements
// would leave its creation: the statements before it landed, none after it ran.
import type { JobsSql } from "../../src/jobs/sql";

export function failingOnRowStatement(sql: JobsSql, n: number): JobsSql {
  let rowStatements = 0;
  return {
    kind: sql.kind,
    query: async (text, params) => {
      if (text.startsWith("INSERT INTO job_rows") && ++rowStatements === n) throw new Error("connection lost");
      return sql.query(text, params);
    },
    exec: (text) => sql.exec(text),
    transaction: (fn) => sql.transaction(fn),
  };
}
