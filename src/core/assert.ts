// Assertions are for programmer errors (broken invariants); they crash loudly in tests.
// Operating errors that users can cause are ServiceErrors (see errors.ts), never assertions.

export class AssertionError extends Error {
  override name = "AssertionError";
}

export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function unreachable(value: never): never {
  throw new AssertionError(`unreachable: ${JSON.stringify(value)}`);
}
