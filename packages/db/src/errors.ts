/** Something a query was asked about does not exist (an unloaded release, an unknown endpoint): HTTP 404. */
export class NotFoundError extends Error {
  override name = "NotFoundError";
}

/** A batch that can never be stored, however often it is retried (a bucket out of range): ack it as failed. */
export class InvalidBatchError extends Error {
  override name = "InvalidBatchError";
}
