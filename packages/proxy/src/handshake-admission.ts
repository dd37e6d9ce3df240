/**
 * TLS handshakes in progress per client address. A handshake is the most expensive thing a client can
 * make the proxy do (a key agreement and a signature: 1–1.5 ms of its one thread's CPU measured on the
 * 2-core development machine, where a request costs a tenth of that), so one client opening connections
 * as fast as it can would fill every turn of the event loop with its handshakes, and every other client's
 * handshakes and requests would wait behind them. Each address gets `perAddress` handshakes at once; its
 * further connections wait their turn, unread, in arrival order, and never delay another address's.
 */
export class HandshakeAdmission {
  private readonly addresses = new Map<string, AddressTurns>();
  /** Connections waiting for their turn, all addresses. */
  waiting = 0;

  constructor(private readonly perAddress: number) {
    if (!Number.isInteger(perAddress) || perAddress < 1)
      throw new RangeError(`handshakes per address must be a whole number >= 1, not ${perAddress}`);
  }

  /**
   * Calls `start` at once when `address` has fewer than `perAddress` handshakes in progress, else when
   * one of them ends. Returns the function that ends this turn: call it when the handshake succeeded or
   * failed or the connection closed; before `start` ran, it takes the connection out of the queue. It may
   * be called more than once.
   */
  admit(address: string, start: () => void): () => void {
    let turns = this.addresses.get(address);
    if (!turns) {
      turns = { running: 0, queue: [] };
      this.addresses.set(address, turns);
    }
    const turn: Turn = { start, state: "waiting" };
    if (turns.running < this.perAddress) this.run(turns, turn);
    else {
      turns.queue.push(turn);
      this.waiting++;
    }
    const owner = turns;
    return () => this.end(address, owner, turn);
  }

  /** Addresses with a handshake in progress or waiting (a bound: at most one per open connection). */
  get addressCount(): number {
    return this.addresses.size;
  }

  private run(turns: AddressTurns, turn: Turn): void {
    turns.running++;
    turn.state = "running";
    turn.start();
  }

  private end(address: string, turns: AddressTurns, turn: Turn): void {
    if (turn.state === "ended") return;
    const was = turn.state;
    turn.state = "ended";
    if (was === "waiting") {
      const at = turns.queue.indexOf(turn);
      if (at !== -1) turns.queue.splice(at, 1);
      this.waiting--;
    } else {
      turns.running--;
      while (turns.running < this.perAddress && turns.queue.length > 0) {
        this.waiting--;
        this.run(turns, turns.queue.shift() as Turn);
      }
    }
    if (turns.running === 0 && turns.queue.length === 0 && this.addresses.get(address) === turns)
      this.addresses.delete(address);
  }
}

interface Turn {
  start: () => void;
  state: "waiting" | "running" | "ended";
}

interface AddressTurns {
  running: number;
  /** In arrival order. */
  queue: Turn[];
}
