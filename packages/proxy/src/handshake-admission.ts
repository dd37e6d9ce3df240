/**
 * When a connection's TLS handshake may start. A handshake is the most expensive thing a client can make
 * the proxy do (a key agreement and a signature, run inside the read of the ClientHello: 1–1.5 ms of its
 * one thread's CPU measured on the 2-core development machine, where a request costs a tenth of that).
 * Three bounds keep one client opening connections as fast as it can from crowding out the others:
 * - per client address, `perAddress` handshakes in progress at once; its further connections wait their
 *   turn, unread, in arrival order, and never delay another address's;
 * - per client address, `ratePerAddress` handshakes a second (a token bucket holding one second's worth,
 *   so a client's burst of that many starts at once): the CPU one address can make the proxy spend on
 *   handshakes is bounded, not only how many it has in progress, which a fast client turns over as fast as
 *   the proxy can compute them;
 * - all addresses together, `startsPerTurn` handshakes start per turn of the event loop, the addresses
 *   taking starts in rotation. Every other client's reads and writes of that turn run between two
 *   handshakes, so a request waits behind at most `startsPerTurn` handshakes' CPU instead of one per
 *   connection that finished its last handshake in the same turn; and an address that just connected
 *   waits for at most one more start of each other address, however many connections they have queued.
 *
 * A second instance admits the upstream HTTP/2 sessions that requests the apiserver takes as
 * unauthenticated open, one each (`UpstreamRelay`): the same bounds keep one client from turning its
 * anonymous requests into upstream TLS handshakes as fast as it can send them.
 */
export class HandshakeAdmission {
  private readonly addresses = new Map<string, AddressTurns>();
  /** Addresses that may start a handshake now (one waits, fewer than `perAddress` run), in rotation. */
  private readonly ready: AddressTurns[] = [];
  private scheduled = false;
  private readonly startsPerTurn: number;
  private readonly nextTurn: (run: () => void) => void;
  private readonly ratePerAddress: number;
  private readonly burst: number;
  private readonly now: () => number;
  private readonly later: (run: () => void, ms: number) => void;
  /** Connections waiting to start their handshake, all addresses. */
  waiting = 0;
  /** Times an address's next handshake had to wait for its rate (`ratePerAddress`). */
  rateDelays = 0;

  constructor(
    private readonly perAddress: number,
    options: HandshakeAdmissionOptions = {},
  ) {
    if (!Number.isInteger(perAddress) || perAddress < 1)
      throw new RangeError(`handshakes per address must be a whole number >= 1, not ${perAddress}`);
    this.startsPerTurn = options.startsPerTurn ?? 1;
    if (!Number.isInteger(this.startsPerTurn) || this.startsPerTurn < 1)
      throw new RangeError(
        `handshake starts per turn must be a whole number >= 1, not ${this.startsPerTurn}`,
      );
    this.nextTurn = options.nextTurn ?? ((run) => setImmediate(run));
    this.ratePerAddress = options.ratePerAddress ?? 0;
    if (!Number.isFinite(this.ratePerAddress) || this.ratePerAddress < 0)
      throw new RangeError(
        `handshakes per second per address must be >= 0 (0: no limit), not ${this.ratePerAddress}`,
      );
    this.burst = Math.max(1, this.ratePerAddress);
    this.now = options.now ?? (() => performance.now());
    // Unreferenced: the sockets that wait keep the process alive, a timer for nobody must not.
    this.later = options.later ?? ((run, ms) => setTimeout(run, ms).unref());
  }

  /**
   * Queues `start` for `address`: it runs on a later turn of the event loop, when the address has fewer
   * than `perAddress` handshakes in progress, is within its rate, and its place in the rotation comes.
   * Returns the function
   * that ends this turn: call it when the handshake succeeded or failed or the connection closed; before
   * `start` ran, it takes the connection out of the queue. It may be called more than once.
   */
  admit(address: string, start: () => void): () => void {
    let turns = this.addresses.get(address);
    if (!turns) {
      turns = {
        address,
        running: 0,
        queue: [],
        ready: false,
        tokens: this.burst,
        refilledAt: this.now(),
        refilling: false,
        expiring: false,
      };
      this.addresses.set(address, turns);
    }
    const turn: Turn = { start, state: "waiting" };
    turns.queue.push(turn);
    this.waiting++;
    this.offer(turns);
    const owner = turns;
    return () => this.end(owner, turn);
  }

  /** Turns of `address` waiting to start (what a caller bounds per address before `admit`). */
  waitingAt(address: string): number {
    return this.addresses.get(address)?.queue.length ?? 0;
  }

  /**
   * Addresses with a handshake in progress or waiting (at most one per open connection), or whose rate
   * was used in the last second (an address's bucket is kept until it is full again).
   */
  get addressCount(): number {
    return this.addresses.size;
  }

  /** Puts `turns` at the back of the rotation when it may start a handshake and is not there yet. */
  private offer(turns: AddressTurns): void {
    if (turns.ready || turns.refilling || turns.queue.length === 0 || turns.running >= this.perAddress)
      return;
    if (this.ratePerAddress > 0) {
      this.refill(turns);
      if (turns.tokens < 1) {
        turns.refilling = true;
        this.rateDelays++;
        this.later(
          () => {
            turns.refilling = false;
            this.offer(turns);
          },
          Math.ceil(((1 - turns.tokens) * 1000) / this.ratePerAddress),
        );
        return;
      }
    }
    turns.ready = true;
    this.ready.push(turns);
    if (!this.scheduled) {
      this.scheduled = true;
      this.nextTurn(() => this.dispatch());
    }
  }

  /** One turn's starts: the next addresses in rotation, one handshake each, up to `startsPerTurn`. */
  private dispatch(): void {
    this.scheduled = false;
    let started = 0;
    while (started < this.startsPerTurn && this.ready.length > 0) {
      const turns = this.ready.shift() as AddressTurns;
      turns.ready = false;
      // Its waiting connections may have closed since it was offered.
      const turn = turns.running < this.perAddress ? turns.queue.shift() : undefined;
      if (!turn) continue;
      this.waiting--;
      turns.running++;
      if (this.ratePerAddress > 0) {
        this.refill(turns);
        turns.tokens -= 1;
      }
      turn.state = "running";
      started++;
      this.offer(turns); // back of the rotation, if it may start another
      turn.start();
    }
    // offer() schedules the next turn when an address is put in the rotation; an address can also be
    // left over from this turn's budget.
    if (this.ready.length > 0 && !this.scheduled) {
      this.scheduled = true;
      this.nextTurn(() => this.dispatch());
    }
  }

  private end(turns: AddressTurns, turn: Turn): void {
    if (turn.state === "ended") return;
    const was = turn.state;
    turn.state = "ended";
    if (was === "waiting") {
      const at = turns.queue.indexOf(turn);
      if (at !== -1) turns.queue.splice(at, 1);
      this.waiting--;
    } else {
      turns.running--;
      this.offer(turns);
    }
    this.forgetWhenIdle(turns);
  }

  private refill(turns: AddressTurns): void {
    const now = this.now();
    turns.tokens = Math.min(
      this.burst,
      turns.tokens + ((now - turns.refilledAt) * this.ratePerAddress) / 1000,
    );
    turns.refilledAt = now;
  }

  /**
   * Drops an address with nothing in progress or waiting; one whose rate was used, only once its bucket
   * is full again, or a client making one connection at a time would get a full bucket for each.
   */
  private forgetWhenIdle(turns: AddressTurns): void {
    if (turns.running > 0 || turns.queue.length > 0 || this.addresses.get(turns.address) !== turns) return;
    if (this.ratePerAddress > 0) this.refill(turns);
    if (this.ratePerAddress === 0 || turns.tokens >= this.burst) {
      this.addresses.delete(turns.address);
      return;
    }
    if (turns.expiring) return;
    turns.expiring = true;
    this.later(
      () => {
        turns.expiring = false;
        this.forgetWhenIdle(turns);
      },
      Math.ceil(((this.burst - turns.tokens) * 1000) / this.ratePerAddress),
    );
  }
}

/** How handshake starts are spread over the event loop's turns. */
export interface HandshakeAdmissionOptions {
  /** Handshakes started per second per client address, a second's worth at once; 0 (default): no limit. */
  ratePerAddress?: number;
  /** Handshakes started per turn of the event loop, all addresses together (default 1). */
  startsPerTurn?: number;
  /**
   * Runs the next turn's starts after this turn's I/O (default `setImmediate`: the check phase, after the
   * poll phase has run every socket's ready reads). Tests pass their own to step turns by hand.
   */
  nextTurn?: (run: () => void) => void;
  /** The clock of the rate, in ms (default `performance.now`), and its timer; tests pass their own. */
  now?: () => number;
  later?: (run: () => void, ms: number) => void;
}

interface Turn {
  start: () => void;
  state: "waiting" | "running" | "ended";
}

interface AddressTurns {
  address: string;
  running: number;
  /** In arrival order. */
  queue: Turn[];
  /** In the rotation of addresses that may start a handshake. */
  ready: boolean;
  /** Handshakes it may start now without waiting for its rate, up to `burst`; as of `refilledAt`. */
  tokens: number;
  refilledAt: number;
  /** Waiting for its rate to allow the next start. */
  refilling: boolean;
  /** Idle, kept until its bucket is full again. */
  expiring: boolean;
}
