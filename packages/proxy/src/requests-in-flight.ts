import type { ClientResponse } from "./client-answers";
import type { InFlight } from "./upstream-relay";

/** Which bound a request was refused by: the `reason` it is counted under. */
export type InFlightRefusal = "requests in flight" | "requests in flight per address";

/**
 * The requests the proxy relays now, by response, watches included, and how many of them each client
 * address holds. Two bounds, both answered 429: the proxy-wide `max`, which bounds the upstream streams
 * and sockets they hold, and each address's `maxPerAddress`, so that one client holding its share (as
 * many watches as it likes, which end only when it ends them) leaves the rest to everyone else.
 *
 * A Map so that the relay and the drain read it as one (`get`, `size`, iteration); a request enters only
 * through `admit`, and `delete` gives its address's slot back.
 */
export class RequestsInFlight extends Map<ClientResponse, InFlight> {
  /** Requests in flight per client address; an address with none has no entry. */
  private readonly byAddress = new Map<string, number>();
  private readonly addressOf = new Map<ClientResponse, string>();

  constructor(
    private readonly max: number,
    private readonly maxPerAddress: number,
  ) {
    super();
  }

  /**
   * Takes `res`'s request in, held by `address` (a `clientAddressKey`), unless a bound is reached: then
   * the bound it met, and nothing is taken. The address's own share is checked first, so a client past
   * it is told so even when the proxy is full too.
   */
  admit(res: ClientResponse, address: string, request: InFlight): InFlightRefusal | null {
    const held = this.byAddress.get(address) ?? 0;
    if (held >= this.maxPerAddress) return "requests in flight per address";
    if (this.size >= this.max) return "requests in flight";
    this.byAddress.set(address, held + 1);
    this.addressOf.set(res, address);
    super.set(res, request);
    return null;
  }

  /** Requests enter only through `admit`, which counts their address. */
  override set(): never {
    throw new Error("RequestsInFlight: take requests in with admit()");
  }

  override delete(res: ClientResponse): boolean {
    const address = this.addressOf.get(res);
    if (address !== undefined) {
      this.addressOf.delete(res);
      const held = (this.byAddress.get(address) ?? 1) - 1;
      if (held > 0) this.byAddress.set(address, held);
      else this.byAddress.delete(address);
    }
    return super.delete(res);
  }

  override clear(): void {
    this.byAddress.clear();
    this.addressOf.clear();
    super.clear();
  }
}
