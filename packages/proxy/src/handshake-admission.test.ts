import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { HandshakeAdmission } from "./handshake-admission";

/**
 * An admission whose event-loop turns and clock the test steps by hand: `turn()` runs the next turn,
 * `advance(ms)` moves the clock and runs the timers that came due.
 */
function stepped(perAddress: number, startsPerTurn?: number, ratePerAddress?: number) {
  let pending: (() => void) | null = null;
  let clock = 0;
  let timers: Array<{ at: number; run: () => void }> = [];
  const admission = new HandshakeAdmission(perAddress, {
    startsPerTurn,
    ratePerAddress,
    nextTurn: (run) => {
      expect(pending).toBeNull(); // never two turns scheduled at once
      pending = run;
    },
    now: () => clock,
    later: (run, ms) => {
      timers.push({ at: clock + ms, run });
    },
  });
  const advance = (ms: number) => {
    clock += ms;
    const due = timers.filter((timer) => timer.at <= clock);
    timers = timers.filter((timer) => timer.at > clock);
    for (const timer of due) timer.run();
  };
  const turn = () => {
    const run = pending;
    pending = null;
    run?.();
  };
  /** Turns until nothing is scheduled. */
  const settle = () => {
    for (let i = 0; i < 10_000 && pending; i++) turn();
  };
  return { admission, turn, settle, advance, timers: () => timers.length };
}

describe("HandshakeAdmission", () => {
  it("counts each address's turns still waiting", () => {
    const { admission, settle } = stepped(1, 10);
    const ends = [1, 2, 3].map(() => admission.admit("10.0.0.1", () => {}));
    admission.admit("10.0.0.2", () => {});
    expect(admission.waitingAt("10.0.0.1")).toBe(3);
    settle();
    expect([admission.waitingAt("10.0.0.1"), admission.waitingAt("10.0.0.2")]).toEqual([2, 0]);
    ends[2]?.(); // its client left while waiting
    expect(admission.waitingAt("10.0.0.1")).toBe(1);
    expect(admission.waitingAt("10.0.0.9")).toBe(0);
  });

  it("starts up to the limit per address, the rest in arrival order as turns end", () => {
    const { admission, settle } = stepped(2, 10);
    const started: string[] = [];
    const ends = ["a1", "a2", "a3", "a4"].map((name) =>
      admission.admit("10.0.0.1", () => started.push(name)),
    );
    expect(started).toEqual([]); // never on the caller's turn
    settle();
    expect(started).toEqual(["a1", "a2"]);
    expect(admission.waiting).toBe(2);
    ends[1]?.();
    settle();
    expect(started).toEqual(["a1", "a2", "a3"]);
    ends[1]?.(); // a second call changes nothing
    settle();
    expect(started).toEqual(["a1", "a2", "a3"]);
    ends[0]?.();
    settle();
    expect(started).toEqual(["a1", "a2", "a3", "a4"]);
    expect(admission.waiting).toBe(0);
    ends[2]?.();
    ends[3]?.();
    expect(admission.addressCount).toBe(0);
  });

  it("starts one handshake per turn of the event loop, the addresses in rotation", () => {
    const { admission, turn } = stepped(4);
    const started: string[] = [];
    for (let i = 0; i < 100; i++) admission.admit("flood", () => started.push(`flood${i}`));
    turn();
    turn();
    expect(started).toEqual(["flood0", "flood1"]);
    // Another client connects while the flood's connections wait: it starts after at most one more of
    // the flood's, then the flood has its remaining turns.
    admission.admit("kubectl", () => started.push("kubectl"));
    turn();
    turn();
    turn();
    expect(started).toEqual(["flood0", "flood1", "flood2", "kubectl", "flood3"]);
    turn(); // the flood has 4 in progress: nothing more starts until one ends
    expect(started).toHaveLength(5);
    expect(admission.waiting).toBe(96);
  });

  it("never holds one address up behind another's queue", () => {
    const { admission, settle } = stepped(1);
    const started: string[] = [];
    for (let i = 0; i < 100; i++) admission.admit("flood", () => started.push(`flood${i}`));
    admission.admit("kubectl", () => started.push("kubectl"));
    settle();
    expect(started).toEqual(["flood0", "kubectl"]);
    expect(admission.waiting).toBe(99);
  });

  it("takes a connection that closes while waiting out of the queue", () => {
    const { admission, settle } = stepped(1);
    const started: string[] = [];
    const first = admission.admit("a", () => started.push("first"));
    const gone = admission.admit("a", () => started.push("gone"));
    admission.admit("a", () => started.push("third"));
    settle();
    gone();
    expect(admission.waiting).toBe(1);
    first();
    settle();
    expect(started).toEqual(["first", "third"]);
    expect(admission.waiting).toBe(0);
  });

  it("skips an address whose only waiting connection closed before its turn came", () => {
    const { admission, settle } = stepped(1);
    const started: string[] = [];
    const gone = admission.admit("a", () => started.push("gone"));
    admission.admit("b", () => started.push("b"));
    gone();
    settle();
    expect(started).toEqual(["b"]);
    expect(admission.waiting).toBe(0);
  });

  it("copes with a turn that ends while it starts", () => {
    const { admission, settle } = stepped(1);
    const started: string[] = [];
    const first = admission.admit("a", () => started.push("first"));
    let second: () => void = () => {};
    second = admission.admit("a", () => {
      started.push("second");
      second(); // the connection was already closed
    });
    admission.admit("a", () => started.push("third"));
    settle();
    first();
    settle();
    expect(started).toEqual(["first", "second", "third"]);
    expect(admission.waiting).toBe(0);
  });

  it("starts a second's worth of an address's handshakes at once, then as its rate allows", () => {
    const { admission, settle, advance } = stepped(100, 1, 4);
    const started: string[] = [];
    for (let i = 0; i < 10; i++) admission.admit("flood", () => started.push(`flood${i}`));
    settle();
    expect(started).toHaveLength(4);
    expect(admission.waiting).toBe(6);
    expect(admission.rateDelays).toBe(1);
    advance(249);
    settle();
    expect(started).toHaveLength(4);
    advance(1); // a quarter of a second: one more
    settle();
    expect(started).toHaveLength(5);
    advance(10_000); // the bucket holds one second's worth, not more
    settle();
    expect(started).toHaveLength(9);
    advance(250);
    settle();
    expect(started).toHaveLength(10);
    expect(admission.waiting).toBe(0);
  });

  it("holds each address to its own rate: another one starts while a flood waits for its own", () => {
    const { admission, settle } = stepped(100, 1, 2);
    const started: string[] = [];
    for (let i = 0; i < 10; i++) admission.admit("flood", () => started.push(`flood${i}`));
    settle();
    admission.admit("kubectl", () => started.push("kubectl"));
    settle();
    expect(started).toEqual(["flood0", "flood1", "kubectl"]);
  });

  it("gives an address that comes back one connection at a time no new bucket each time", () => {
    const { admission, settle, advance, timers } = stepped(4, 1, 2);
    const started: string[] = [];
    for (const name of ["a", "b"]) {
      const end = admission.admit("10.0.0.9", () => started.push(name));
      settle();
      end(); // handshake done, connection closed: nothing in progress or waiting
    }
    const end = admission.admit("10.0.0.9", () => started.push("c"));
    settle();
    expect(started).toEqual(["a", "b"]);
    advance(500);
    settle();
    expect(started).toEqual(["a", "b", "c"]);
    end();
    expect(admission.addressCount).toBe(1);
    // Forgotten once its bucket is full again (a second after its last start here).
    advance(1000);
    expect(admission.addressCount).toBe(0);
    expect(timers()).toBe(0);
  });

  it("refuses a limit below one", () => {
    expect(() => new HandshakeAdmission(0)).toThrow(RangeError);
    expect(() => new HandshakeAdmission(4, { startsPerTurn: 0 })).toThrow(RangeError);
    expect(() => new HandshakeAdmission(4, { ratePerAddress: -1 })).toThrow(RangeError);
  });
});

describe("HandshakeAdmission with real connections and the real event loop", () => {
  const closing: Array<() => void> = [];
  afterEach(() => {
    for (const close of closing.splice(0)) close();
  });

  it("lets the socket reads of a turn run between two handshake starts", async () => {
    const admission = new HandshakeAdmission(8);
    /** Bumped once per turn of the event loop, in its check phase as the starts are. */
    let loopTurn = 0;
    let ticking = true;
    const tick = () => {
      loopTurn++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    closing.push(() => {
      ticking = false;
    });
    const startedOnTurn: number[] = [];
    const CONNECTIONS = 9;
    const accepted: net.Socket[] = [];
    const server = net.createServer({ pauseOnConnect: true }, (socket) => {
      closing.push(() => socket.destroy());
      accepted.push(socket);
      // All of them ready on one turn, as when one poll phase reads the ClientHellos of many connections.
      if (accepted.length === CONNECTIONS)
        for (const ready of accepted)
          admission.admit(ready.remoteAddress ?? "", () => startedOnTurn.push(loopTurn));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    closing.push(() => server.close());
    const { port } = server.address() as net.AddressInfo;
    // Eight connections from one address, one from another.
    const clients = Array.from({ length: CONNECTIONS - 1 }, () =>
      net.connect({ port, host: "127.0.0.1", localAddress: "127.0.0.2" }),
    );
    clients.push(net.connect({ port, host: "127.0.0.1" }));
    for (const client of clients) closing.push(() => client.destroy());
    while (startedOnTurn.length < clients.length) await new Promise((resolve) => setImmediate(resolve));
    expect(new Set(startedOnTurn).size).toBe(clients.length); // no two on the same turn
    expect(admission.waiting).toBe(0);
  });
});
