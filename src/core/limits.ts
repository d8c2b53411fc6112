// Every bound the engine enforces, in one place (TIGER_STYLE: limits on everything).
// Names put the qualifier and the unit last. Exceeding a limit is a typed error, never a hang or an OOM.

export const limits = Object.freeze({
  // --- planning (Planning.Plan: I iterations of K sampled candidates, scored next to the model) ---
  planSamplesMax: 512, // K per iteration; split into engine requests of at most the model's batch lanes
  planIterationsMax: 64, // I
  planWorstCaseFramesMax: 2_000_000, // I x K x (T+1) reserved up front ($1,000 at $0.0005/frame)
  planTimeBudgetMsMax: 10 * 60 * 1000,
  scorerNameBytesMax: 64,
  // --- control sessions (Sessions: a robot loop's goal, planner and warm start kept between steps) ---
  sessionTtlSDefault: 60, // idle time before a session closes itself (CreateSessionRequest.ttl_s = 0)
  sessionTtlSMax: 60 * 60,
  sessionsPerKeyMax: 16, // open sessions per API key
  sessionsMax: 256, // open sessions per server: each may hold a 1080p goal (6.2 MB) and a T x D warm start
  sessionSweepMs: 1_000, // how often idle sessions are swept (they also expire when next touched)
  // --- request shape ---
  candidatesMax: 32, // K per PredictBatch / StreamPredict
  actionStepsMax: 240, // T per candidate (24 s at 10 fps; 20 chunks)
  actionDimMax: 1024, // sanity bound on a catalog's action_dim
  frameHeightMax: 1080,
  frameWidthMax: 1920,
  frameBytesMax: 16 * 1024 * 1024, // one encoded input frame (a raw 1080p frame is 6.2 MB)
  numStepsMax: 64, // diffusion steps per chunk
  guidanceMax: 30,
  deadlineMsMax: 10 * 60 * 1000,
  requestIdBytesMax: 64,
  /** A hold's key in the ledger and balance store: customer id (≤ 104) + "/" + request id. */
  holdKeyBytesMax: 192,
  jpegQualityMin: 1,
  jpegQualityMax: 100,
  // Nesting of tuples/lists in a .npy header (numpy writes depth 1; structured dtypes a few more).
  npyHeaderDepthMax: 16,

  // --- errors: an answer never grows with its input (a 30,000-character slug echoed into a gRPC
  // trailer once stalled the whole HTTP/2 connection) ---
  errorEchoCharsMax: 128, // one user-supplied value quoted in a message or a detail
  errorMessageBytesMax: 1024, // a whole message (grpc-message percent-encodes it to at most 3x)
  errorHeadersBytesMax: 1024, // response headers an error carries (429 RateLimit*), counted as HPACK does
  errorDetailsBytesMax: 2048, // gRPC: the encoded google.rpc.Status; REST: the detail keys of the JSON body

  // --- transport ---
  grpcReceiveBytesMax: 64 * 1024 * 1024, // a K=32, T=240 request is ~11.8 MB of actions + one frame
  grpcSendBytesMax: 2 * 1024 * 1024 * 1024 - 1, // a K=8, T=48 raw 480x640 response is ~361 MB
  // The gRPC server's HTTP/2 receive window when raised (DREAM_GRPC_RECEIVE_WINDOW_BYTES; what the TS
  // client asks for its own): bytes a client may have in flight per connection before the server reads.
  grpcReceiveWindowBytesMin: 65_535, // HTTP/2's own default and floor (RFC 9113 §6.9.2): what grpc-js's server always advertises
  grpcReceiveWindowBytesMax: 64 * 1024 * 1024,
  // Raw unary response buffers kept for reuse once their bytes have left (a K=8 T=48 480x640 response
  // is 361 MB; a fresh one costs ~1 s of page faults on a small VM, a reused one none). Bounds RSS, per
  // transport: gRPC's arena pool and REST's multipart one (transport/rest/mixed-arena.ts) each.
  rawArenaPoolBytesMax: 1024 * 1024 * 1024,
  httpBodyBytesMax: 64 * 1024 * 1024,
  httpHeaderBytesMax: 16 * 1024,
  httpRawResponseBytesMax: 2 * 1024 * 1024 * 1024 - 1, // a raw multipart/mixed body laid out in one buffer (REST's grpcSendBytesMax)
  multipartPartsMax: 64,
  // After failed authentications emptied an address's failure bucket, it pays a token before each key
  // lookup for this long, so a flood of bad keys costs no lookups; the table of such peers is bounded.
  authSuspectMs: 10_000,
  authSuspectPeersMax: 10_000,
  authKnownKeysMax: 10_000, // keys that authenticated recently skip a suspect address's toll
  authFailureRatePerS: 20, // failed authentications per address (own bucket)
  authFailureBurst: 100,

  // --- scheduling ---
  queueRequestsMax: 256, // per model; a full queue answers UNAVAILABLE with a retry hint
  queueLanesMax: 2048, // candidates waiting per model
  batchLanesMax: 64, // hard upper bound for any model's configured batch size
  queueDelayUsMax: 10_000_000, // upper bound on a configured batching delay
  chunkTimeoutMsMax: 600_000,
  /**
   * How long a runner's close() waits for its worker to leave on its own (its lifeline: a busy worker
   * leaves after the native call in flight). Past this the thread is left to finish that call and exit;
   * it is never terminate()d inside onnxruntime, which aborts the process.
   */
  workerExitGraceMs: 10_000,
  // Priority classes: paused batch lanes keep their latent state in the runner up to this many bytes
  // per model; beyond it the least advanced paused requests are evicted and later recomputed from
  // their start frame (their recomputed chunks are not delivered or billed again).
  pausedStateBytesMax: 1024 * 1024 * 1024,
  // Plan rule 3c: for this long after an interactive arrival (a control loop between decisions), batch
  // lanes in play are capped (DREAM_BATCH_LANES_NEAR_INTERACTIVE; half of batchLanesMax on a CPU), so
  // the next decision waits for a shorter batch chunk. 1 s covers loops down to 1 Hz.
  interactiveNearUs: 1_000_000,
  // ffmpeg processes encoding batch work's MP4s run at this niceness, so they use the cores only when
  // interactive work leaves them idle (0..19; the engine's own threads stay at 0). 19, not 10: four
  // encodes of two threads at nice 10 still took ~30% of the cores from the runner (CFS weights 110
  // vs 1024); bench:priority --load job, p99 with batch 284 -> 155 ms, alone 93 / 81 ms.
  backgroundEncodeNiceness: 19,
  queueLanesPerCustomerMax: 512, // candidates one customer may have waiting per model (fair share: one burst cannot fill the queue)
  runChunksMax: 32, // consecutive chunks of an unchanged batch in one runner call (interruptible at every boundary)
  runnerRestartsPerMinuteMax: 10,
  replicasPerModelMax: 16, // runners (devices) one model may run on in one process
  replicaReplacementsMax: 16, // fresh runners a replicated model builds for replicas that failed for good, per process lifetime
  scorersPerModelMax: 8, // named scorers in one catalog entry (each is a session in the runner)
  scorerDownsampleMax: 64, // side of a built-in scorer's average pool, and of the SSIM window
  goalFramesMax: 240, // frames in one goal (a goal per predicted frame of the longest rollout: actionStepsMax)

  // --- streaming / memory ---
  streamBufferedChunksMax: 4, // per stream; a reader stalled beyond this is cancelled
  streamStallMsMax: 30_000,
  encodeConcurrencyMax: 8, // sharp calls in flight: decodes, and encodes where the encoder threads are off
  encodeThreadsMax: 16, // JPEG/PNG encoder threads (encoder-pool.ts); a host gives them the cores ORT leaves free
  encodeBatchFramesMax: 64, // frames in one message to an encoder thread
  encodeBatchBytesMax: 4 * 1024 * 1024, // frame bytes in one such message (~4 frames at 480p), so a chunk spreads over the threads
  encodeInFlightBytesMax: 32 * 1024 * 1024, // frame bytes handed to encoder threads (read in place) and not yet encoded
  videoEncodersMax: 32, // live ffmpeg H.264 encoders (~50 MB RSS each); >= candidatesMax so a K=32 MP4 request fits

  // --- billing ---
  topupUsdMin: 5,
  topupUsdMax: 10_000,
  holdTtlMsMax: 60 * 60 * 1000,
  transactionsListMax: 500,
  keyNameBytesMax: 128,

  // --- durable batch jobs (src/jobs, src/service/jobs) ---
  jobRowsMax: 10_000, // rows in one job (uploaded or in a source dir); each is one engine request
  jobRowsInFlightMax: 8, // rows one engine instance runs at once (enough for the scheduler to batch them)
  // While a job runs, its results.jsonl is rewritten from the database at most this often (and always
  // before the job ends): rewriting it after every row read every row twice per row, O(rows^2) SQL
  // that took the embedded ledger's thread from the control loops beside it.
  jobResultsWriteIntervalMs: 1000,
  jobRowAttemptsMax: 3, // tries of a row after retryable failures (queue full, engine failure) before it fails
  jobIdBytesMax: 40, // a client-chosen job id; "job-<id>-row-<index>-r<n>" stays within requestIdBytesMax
  jobsListMax: 500,
  jobManifestBytesMax: 16 * 1024 * 1024, // a source dir's manifest.jsonl

  // --- operator admin socket (<dataDir>/admin.sock) ---
  adminBodyBytesMax: 64 * 1024, // a request body: a few ids, a name, a note
  adminResponseBytesMax: 64 * 1024 * 1024, // what the CLI reads back (keys list grows with the keys)
  adminConnectMsMax: 2_000, // the probe that tells a live server from a stale socket file
  adminSocketPathBytesMax: 103, // sun_path is 104 bytes on macOS (108 on Linux), NUL included
});

export type Limits = typeof limits;
