/**
 * The proxy's bounds on what one client, or all of them, can make it hold: each has a metric (README
 * "Threat model and limits") and a default chosen as Envoy's and Node's are, loose enough for every
 * Kubernetes client and tight enough that a hostile one cannot exhaust the proxy.
 */
export interface ConnectionLimits {
  /** Client connections held at once; past it, new ones are closed on accept and counted. */
  maxConnections: number;
  /**
   * Requests relayed at once over all clients, watches included; past it a request is answered 429 with
   * `Retry-After` and counted. Each holds an upstream stream or an upstream HTTP/1.1 socket, and the
   * HTTP/1.1 pool has no socket limit of its own (watches hold theirs for minutes): this is its bound.
   */
  maxRequestsInFlight: number;
  /**
   * Each client address's share of `maxRequestsInFlight`; past it that address's requests are answered
   * 429 with `Retry-After` and counted, while other addresses are served. A watch lasts as long as its
   * client keeps it: without a share, one client holding `maxRequestsInFlight` watches would refuse every
   * other client until it let them go. The address is the client pod's IP (client-address.ts).
   */
  maxRequestsInFlightPerAddress: number;
  /** A new connection must send its first byte within this (silent sockets, slowloris before TLS). */
  firstByteTimeoutMs: number;
  /**
   * A TLS handshake must finish within this; a connection waiting for its turn to start one (see
   * `handshakesPerAddress`) is closed after as long.
   */
  handshakeTimeoutMs: number;
  /**
   * TLS handshakes in progress at once per client address. A handshake is the dearest thing a client can
   * make the proxy do; further connections from the address wait their turn, unread, so that one client
   * opening connections as fast as it can never holds up another's.
   */
  handshakesPerAddress: number;
  /**
   * TLS handshakes started per second per client address (a second's worth may start at once); 0: no
   * limit. Bounds the CPU one client can make the proxy spend on handshakes, which `handshakesPerAddress`
   * does not: a fast client turns its few handshakes over as fast as the proxy computes them.
   */
  handshakeRatePerAddress: number;
  /** A request's headers must arrive within this. */
  headersTimeoutMs: number;
  /**
   * A keep-alive connection with no request in flight is closed after this. Node also closes one that
   * sends no next request within `headersTimeoutMs`, so the shorter of the two applies.
   */
  idleTimeoutMs: number;
  /** Bytes of one request's head (request line and headers); larger heads are answered 431. */
  maxHeaderBytes: number;
  /** A pass-through tunnel (`--allow-tunnel`) with no byte either way for this long is closed. */
  tunnelIdleTimeoutMs: number;
  /**
   * How long a drain keeps connections with nothing in flight open (at most the drain's own deadline).
   * A client may have sent a request on one just as the drain began: closing it would reset that request,
   * which no client can tell from one the proxy took. Kept open, it is answered (with `Connection: close`,
   * or a GOAWAY for HTTP/2); the ones still idle at the end of this are closed.
   */
  drainGraceMs: number;
}

export const DEFAULT_LIMITS: Readonly<ConnectionLimits> = Object.freeze({
  maxConnections: 4096,
  // Four times the connections: room for every client's watches and requests, far below the file
  // descriptors a process gets, and kube-apiserver's own --max-requests-inflight does not count watches.
  maxRequestsInFlight: 16_384,
  // A sixteenth of it: sixteen clients at their share before anyone else is refused, and far above what
  // one client holds (kube-controller-manager watches ~50 resources; kube-apiserver's own
  // --max-requests-inflight default is 400, watches not counted).
  maxRequestsInFlightPerAddress: 1024,
  firstByteTimeoutMs: 10_000,
  handshakeTimeoutMs: 10_000,
  // A client's own connections rarely handshake more than a few at once; a flood of them waits in line.
  handshakesPerAddress: 4,
  // A kubectl loop or an e2e run makes a few a second; 50 is at most ~10 % of a core on the 2-core
  // development machine (1.9 ms of CPU each, measured by bench:flood), and a burst of 50 starts at once.
  handshakeRatePerAddress: 50,
  headersTimeoutMs: 30_000,
  // Go's clients keep idle connections 90 s and handle a server closing them first (nginx: 75 s).
  idleTimeoutMs: 30_000,
  // Envoy's default is 60 KiB; OIDC bearer tokens and impersonation headers can pass Node's 16 KiB.
  maxHeaderBytes: 64 * 1024,
  // Envoy's tcp_proxy default.
  tunnelIdleTimeoutMs: 3_600_000,
  // Envoy waits as long between its drain's first GOAWAY and the last; Go's Shutdown gives a new
  // connection as long to send its first request.
  drainGraceMs: 5_000,
});
