/**
 * Where the events of a watch stream end, so that the proxy can end a watch between two events the way
 * the apiserver ends one at its timeout: the client reads a complete response, and its reflector or
 * informer watches again from its last resourceVersion, silently. Cut in the middle of an event, client-go
 * logs "unexpected EOF" and client-node's informer stops with an error.
 *
 * The apiserver frames watch events by the serializer the client asked for: JSON events are compact
 * objects, one per line (a raw newline never occurs inside one); protobuf events are each preceded by
 * their length in 4 bytes, big-endian (k8s.io/apimachinery's LengthDelimitedFramer).
 */
export interface WatchFraming {
  /** Takes the next bytes of the stream, in order, as they are sent to the client. */
  feed(chunk: Buffer): void;
  /** Every byte fed so far belongs to a complete event: the stream can end here. */
  readonly betweenEvents: boolean;
  /**
   * How many leading bytes of `chunk`, the stream's next bytes, complete the event in progress;
   * -1 when they do not reach its end. Does not feed them.
   */
  eventEndIn(chunk: Buffer): number;
}

/**
 * The framing of a watch answered with `contentType`, or null for one the proxy cannot follow
 * (`application/cbor-seq`, anything else): such a watch is cut when it must end.
 */
export function watchFraming(contentType: string | null | undefined): WatchFraming | null {
  const type = (contentType ?? "").split(";")[0]?.trim().toLowerCase();
  if (type === "application/json") return new LineFraming();
  if (type === "application/vnd.kubernetes.protobuf") return new LengthPrefixedFraming();
  return null;
}

const NEWLINE = 0x0a;

/** One JSON event per line. */
class LineFraming implements WatchFraming {
  betweenEvents = true;

  feed(chunk: Buffer): void {
    if (chunk.length > 0) this.betweenEvents = chunk[chunk.length - 1] === NEWLINE;
  }

  eventEndIn(chunk: Buffer): number {
    const newline = chunk.indexOf(NEWLINE);
    return newline === -1 ? -1 : newline + 1;
  }
}

/** A 4-byte big-endian length, then that many bytes, per event. */
class LengthPrefixedFraming implements WatchFraming {
  /** Bytes of the length prefix read so far (0–3), and their value. */
  private prefixBytes = 0;
  private prefix = 0;
  /** Bytes of the event in progress still to come. */
  private remaining = 0;

  get betweenEvents(): boolean {
    return this.prefixBytes === 0 && this.remaining === 0;
  }

  feed(chunk: Buffer): void {
    this.scan(chunk, false);
  }

  eventEndIn(chunk: Buffer): number {
    const { prefixBytes, prefix, remaining } = this;
    const end = this.scan(chunk, true);
    Object.assign(this, { prefixBytes, prefix, remaining });
    return end;
  }

  /** Advances over `chunk`; with `stopAtEnd`, returns the offset just past the first event that ends in it. */
  private scan(chunk: Buffer, stopAtEnd: boolean): number {
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - i);
        this.remaining -= take;
        i += take;
        if (this.remaining === 0 && stopAtEnd) return i;
        continue;
      }
      this.prefix = this.prefix * 256 + (chunk[i] as number);
      this.prefixBytes++;
      i++;
      if (this.prefixBytes === 4) {
        this.remaining = this.prefix;
        this.prefixBytes = 0;
        this.prefix = 0;
        if (this.remaining === 0 && stopAtEnd) return i;
      }
    }
    return -1;
  }
}
