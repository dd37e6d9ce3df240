const NOT_FOUND = Symbol.for("apisnoop.db.NotFoundError");
const INVALID_BATCH = Symbol.for("apisnoop.db.InvalidBatchError");

/**
 * Something a query was asked about does not exist (an unloaded release, an unknown endpoint): HTTP 404.
 * `instanceof` holds across copies of this module: Next bundles its own copy of the package for pages,
 * so the class a page imports is not the one the custom server's data layer threw.
 */
export class NotFoundError extends Error {
  override name = "NotFoundError";
  readonly [NOT_FOUND] = true;

  constructor(
    /** What does not exist: a release (not loaded) or an endpoint (not in a release, and never hit). */
    readonly missing: "release" | "endpoint",
    message: string,
  ) {
    super(message);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && NOT_FOUND in value;
  }
}

/**
 * A batch that can never be stored, however often it is retried (a bucket out of range): ack it as failed.
 * `instanceof` holds across copies of this module, as for NotFoundError.
 */
export class InvalidBatchError extends Error {
  override name = "InvalidBatchError";
  readonly [INVALID_BATCH] = true;

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && INVALID_BATCH in value;
  }
}
