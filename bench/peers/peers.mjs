// Peer queue workloads for the taskmill peer benchmark.
// Usage: node peers.mjs <peer> <workload> <database> [clients]
//   peer:     gw (graphile-worker) | boss (pg-boss) | pgq (PgQ via node-postgres)
//   workload: enqueue_single | enqueue_batch | process | latency
// The database must exist and be empty; run.sh creates a fresh one per call.
// Prints one JSON line per measurement on stdout. Everything else goes to stderr.
// Env: PGHOST PGPORT PGUSER, N (jobs, default 20000), BATCH (default 1000),
//      LAT_SAMPLES (default 200), WORKLOAD_TIMEOUT_S (default 600),
//      PGQ_POLL_MS (pgq ticker+consumer poll period in the latency test, default 50),
//      PGQ_DEFAULT_LAG=1 (latency test keeps pgq's ticker_max_lag 3 s / idle_period 60 s).
import pg from "pg";
import { performance } from "node:perf_hooks";
import { readFileSync } from "node:fs";

// Resolved next to this file: bench/peers/node_modules (run.sh installs it with npm ci).
const pkgVersion = (name) => JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), "utf8")).version;

const [peer, workload, dbname, clientsArg] = process.argv.slice(2);
const N = parseInt(process.env.N || "20000", 10);
const BATCH = parseInt(process.env.BATCH || "1000", 10);
const LAT_SAMPLES = parseInt(process.env.LAT_SAMPLES || "200", 10);
const TIMEOUT_S = parseInt(process.env.WORKLOAD_TIMEOUT_S || "600", 10);
const PGQ_POLL_MS = parseInt(process.env.PGQ_POLL_MS || "50", 10);
const CLIENTS = parseInt(clientsArg || "1", 10);
const host = process.env.PGHOST || "127.0.0.1";
const port = process.env.PGPORT || "5432";
const user = process.env.PGUSER || "postgres";
const connectionString = `postgres://${encodeURIComponent(user)}@${host}:${port}/${dbname}`;

const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(`[${peer}/${workload}]`, ...a);
const emit = (o) => process.stdout.write(JSON.stringify({ peer: PEER_NAME[peer], workload, ...o }) + "\n");
const PEER_NAME = { gw: "graphile-worker", boss: "pg-boss", pgq: "pgq" };

// Hard bound on every workload.
const killer = setTimeout(() => {
  emit({ error: `timeout after ${TIMEOUT_S}s` });
  process.exit(3);
}, TIMEOUT_S * 1000);
killer.unref();

function pct(arr, p) {
  const s = [...arr].sort((a, b) => a - b);
  if (!s.length) return null;
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return +s[idx].toFixed(3);
}

// Run `total` single enqueues from `clients` concurrent loops; returns seconds.
async function concurrentLoops(total, clients, fn) {
  let next = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (;;) {
        const i = next++;
        if (i >= total) return;
        await fn(i);
      }
    }),
  );
  return (now() - t0) / 1000;
}

async function waitFor(pred, { everyMs = 5, maxMs = TIMEOUT_S * 1000 } = {}) {
  const end = now() + maxMs;
  for (let k = 0; now() < end && k < 10_000_000; k++) {
    if (await pred()) return true;
    await sleep(everyMs);
  }
  throw new Error("waitFor: deadline exceeded");
}

async function scalar(client, sql, params = []) {
  const r = await client.query(sql, params);
  return r.rows[0] ? Object.values(r.rows[0])[0] : null;
}

// Enqueue N jobs BATCH at a time with insert(from, n), one batch per transaction; returns seconds.
async function timedBatches(insert) {
  const t0 = now();
  for (let done = 0; done < N; done += BATCH) await insert(done, Math.min(BATCH, N - done));
  return (now() - t0) / 1000;
}

// The best of a settings grid's results (highest jobs/s).
const bestOf = (results) => results.reduce((a, b) => (b.jobs_per_s > a.jobs_per_s ? b : a));

// Commit -> handler start, the same way for every peer: LAT_SAMPLES samples after 5 warm-up
// ones, a random gap between them so that no poll period phase-locks with the producer.
// The handler calls started(); measure(enqueue) calls enqueue(i) for each sample (resolving
// at its commit) and returns the percentiles.
function latencyProbe() {
  let resolveStart = null;
  return {
    started() {
      const t = now();
      if (resolveStart) resolveStart(t);
    },
    async measure(enqueue) {
      const commit = [];
      const call = [];
      for (let i = 0; i < LAT_SAMPLES + 5; i++) {
        const started = new Promise((r) => (resolveStart = r));
        const tCall = now();
        await enqueue(i);
        const tCommit = now();
        const tStart = await Promise.race([started, sleep(10000).then(() => null)]);
        if (tStart === null) throw new Error("latency sample timed out");
        if (i >= 5) {
          commit.push(tStart - tCommit);
          call.push(tStart - tCall);
        }
        await sleep(20 + Math.random() * 50);
      }
      return { samples: commit.length, p50_ms: pct(commit, 50), p99_ms: pct(commit, 99), p50_from_call_ms: pct(call, 50), p99_from_call_ms: pct(call, 99) };
    },
  };
}

// ---------------------------------------------------------------- graphile-worker
async function gw() {
  const { makeWorkerUtils, run, Logger } = await import("graphile-worker");
  const version = pkgVersion("graphile-worker");
  const pool = new pg.Pool({ connectionString, max: Math.max(CLIENTS, 1) + 2 });
  const silent = { logger: new Logger(() => () => {}) };
  const utils = await makeWorkerUtils({ pgPool: pool, ...silent });
  await utils.migrate();
  const base = { version };

  const pending = () => scalar(pool, "select count(*)::int from graphile_worker._private_jobs");
  const preload = async () => {
    for (let i = 0; i < N; i += BATCH) {
      const n = Math.min(BATCH, N - i);
      await utils.addJobs(Array.from({ length: n }, (_, k) => ({ identifier: "noop", payload: { i: i + k } })));
    }
  };
  // Run the N preloaded jobs with a runner of these options; seconds from the first job's
  // start until every job is done.
  const drain = async (options) => {
    let count = 0;
    let t0 = null;
    const runner = await run({
      connectionString,
      noHandleSignals: true,
      ...silent,
      ...options,
      taskList: {
        noop: async () => {
          if (t0 === null) t0 = now();
          count++;
        },
      },
    });
    await waitFor(() => count >= N, { everyMs: 5 });
    await waitFor(async () => (await pending()) === 0, { everyMs: 5 });
    const s = (now() - t0) / 1000;
    await runner.stop();
    return s;
  };

  if (workload === "enqueue_single") {
    const s = await concurrentLoops(N, CLIENTS, (i) => utils.addJob("noop", { i }));
    emit({ ...base, clients: CLIENTS, n: N, seconds: +s.toFixed(3), jobs_per_s: Math.round(N / s), settings: "WorkerUtils.addJob, 1 job/tx" });
  } else if (workload === "enqueue_batch") {
    const s = await timedBatches((done, n) => utils.addJobs(Array.from({ length: n }, (_, k) => ({ identifier: "noop", payload: { i: done + k } }))));
    emit({ ...base, clients: 1, n: N, batch: BATCH, seconds: +s.toFixed(3), jobs_per_s: Math.round(N / s), settings: "WorkerUtils.addJobs (add_jobs), 1 batch/tx" });
  } else if (workload === "process") {
    const settingsList = JSON.parse(
      process.env.GW_SETTINGS ||
        JSON.stringify([
          { concurrency: 8 },
          { concurrency: 8, localQueue: 100, completeJobBatchDelay: 0 },
          { concurrency: 32, localQueue: 500, completeJobBatchDelay: 0 },
          { concurrency: 64, localQueue: 1000, completeJobBatchDelay: 0 },
        ]),
    );
    const results = [];
    for (const st of settingsList) {
      await pool.query("delete from graphile_worker._private_jobs");
      await pool.query("vacuum analyze graphile_worker._private_jobs");
      await preload();
      await pool.query("checkpoint");
      const worker = {};
      if (st.localQueue) worker.localQueue = { size: st.localQueue };
      if (st.completeJobBatchDelay !== undefined) worker.completeJobBatchDelay = st.completeJobBatchDelay;
      const s = await drain({ concurrency: st.concurrency, pollInterval: 2000, preset: { worker } });
      results.push({ settings: st, seconds: +s.toFixed(3), jobs_per_s: Math.round(N / s) });
      log(JSON.stringify(results.at(-1)));
    }
    const best = bestOf(results);
    emit({ ...base, n: N, seconds: best.seconds, jobs_per_s: best.jobs_per_s, settings: best.settings, tried: results });
  } else if (workload === "fifo") {
    // Named queues: jobs of one queueName run one at a time, in order (Graphile Worker's
    // serial queues, the peer of taskmill's FIFO groups). FIFO_GROUPS queue names, jobs
    // spread round-robin; one runner with concurrency = clients ("workers"). Time from the
    // first job's start until every job is done, as process measures it.
    // A worker that finishes a job of a named queue finds the queue still locked until the
    // completion lands, then waits for its next poll: the poll interval bounds a hot
    // queue: 10 ms by default (at the usual 2 s, 200 jobs of one queue took 362 s here);
    // GW_FIFO_SETTINGS tries others, the best is reported.
    const groups = parseInt(process.env.FIFO_GROUPS || "1", 10);
    const settingsList = JSON.parse(process.env.GW_FIFO_SETTINGS || JSON.stringify([{ pollInterval: 10 }]));
    const results = [];
    for (const st of settingsList) {
      await pool.query("delete from graphile_worker._private_jobs");
      for (let i = 0; i < N; i += BATCH) {
        const n = Math.min(BATCH, N - i);
        await utils.addJobs(
          Array.from({ length: n }, (_, k) => ({ identifier: "noop", payload: { i: i + k }, queueName: "g" + ((i + k) % groups) })),
        );
      }
      await pool.query("vacuum analyze graphile_worker._private_jobs");
      await pool.query("checkpoint");
      const s = await drain({ concurrency: CLIENTS, pollInterval: st.pollInterval });
      results.push({ settings: st, seconds: +s.toFixed(3), jobs_per_s: Math.round(N / s) });
      log(JSON.stringify(results.at(-1)));
    }
    const best = bestOf(results);
    emit({ ...base, groups, workers: CLIENTS, n: N, seconds: best.seconds, jobs_per_s: best.jobs_per_s,
      settings: { concurrency: CLIENTS, named_queues: groups, ...best.settings }, tried: results });
  } else if (workload === "latency") {
    const probe = latencyProbe();
    const runner = await run({
      connectionString,
      concurrency: 1,
      noHandleSignals: true,
      pollInterval: 2000,
      ...silent,
      taskList: {
        noop: async () => probe.started(),
      },
    });
    await sleep(500);
    const lat = await probe.measure((i) => utils.addJob("noop", { i }));
    await runner.stop();
    emit({ ...base, ...lat, settings: "run() concurrency 1, LISTEN jobs:insert, pollInterval 2000" });
  }
  await utils.release();
  await pool.end();
}

// ---------------------------------------------------------------- pg-boss
async function boss() {
  const { PgBoss } = await import("pg-boss");
  const version = pkgVersion("pg-boss");
  const base = { version };
  const useNotify = workload === "latency";
  const b = new PgBoss({
    connectionString,
    max: Math.max(CLIENTS, 1) + 4,
    supervise: false,
    schedule: false,
    useListenNotify: useNotify,
  });
  b.on("error", (e) => log("pg-boss error:", e?.message || e));
  await b.start();
  await b.createQueue("noop", useNotify ? { notify: true } : {});
  const pool = new pg.Pool({ connectionString, max: 2 });
  const pending = () => scalar(pool, "select count(*)::int from pgboss.job where name = 'noop' and state in ('created','retry','active')");
  const preload = async () => {
    for (let i = 0; i < N; i += BATCH) {
      const n = Math.min(BATCH, N - i);
      await b.insert("noop", Array.from({ length: n }, (_, k) => ({ data: { i: i + k } })));
    }
  };

  if (workload === "enqueue_single") {
    const s = await concurrentLoops(N, CLIENTS, (i) => b.send("noop", { i }));
    emit({ ...base, clients: CLIENTS, n: N, seconds: +s.toFixed(3), jobs_per_s: Math.round(N / s), settings: "boss.send, 1 job/tx, queue notify off" });
  } else if (workload === "enqueue_batch") {
    const s = await timedBatches((done, n) => b.insert("noop", Array.from({ length: n }, (_, k) => ({ data: { i: done + k } }))));
    emit({ ...base, clients: 1, n: N, batch: BATCH, seconds: +s.toFixed(3), jobs_per_s: Math.round(N / s), settings: "boss.insert(name, jobs[]), 1 batch/tx" });
  } else if (workload === "process") {
    const settingsList = JSON.parse(
      process.env.BOSS_SETTINGS ||
        JSON.stringify([
          { batchSize: 20, localConcurrency: 8 },
          { batchSize: 100, localConcurrency: 4 },
          { batchSize: 500, localConcurrency: 2 },
          { batchSize: 1000, localConcurrency: 2 },
        ]),
    );
    const results = [];
    let qn = 0;
    for (const st of settingsList) {
      const name = `noop${qn++}`;
      await b.createQueue(name);
      for (let i = 0; i < N; i += BATCH) {
        const n = Math.min(BATCH, N - i);
        await b.insert(name, Array.from({ length: n }, (_, k) => ({ data: { i: i + k } })));
      }
      await pool.query("checkpoint");
      let count = 0;
      let t0 = null;
      const workId = await b.work(
        name,
        { batchSize: st.batchSize, localConcurrency: st.localConcurrency, pollingIntervalSeconds: 0.5, burstWhenBatchFull: true },
        async (jobs) => {
          if (t0 === null) t0 = now();
          count += jobs.length;
        },
      );
      await waitFor(() => count >= N, { everyMs: 5 });
      await waitFor(async () => (await scalar(pool, "select count(*)::int from pgboss.job where name = $1 and state in ('created','retry','active')", [name])) === 0, { everyMs: 5 });
      const s = (now() - t0) / 1000;
      await b.offWork(name);
      results.push({ settings: { ...st, pollingIntervalSeconds: 0.5, burstWhenBatchFull: true }, seconds: +s.toFixed(3), jobs_per_s: Math.round(N / s) });
      log(JSON.stringify(results.at(-1)));
    }
    const best = bestOf(results);
    emit({ ...base, n: N, seconds: best.seconds, jobs_per_s: best.jobs_per_s, settings: best.settings, tried: results });
  } else if (workload === "latency") {
    const probe = latencyProbe();
    await b.work("noop", { batchSize: 1, pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 30 }, async () => probe.started());
    await sleep(1000);
    const lat = await probe.measure((i) => b.send("noop", { i }));
    emit({ ...base, ...lat, settings: "useListenNotify true, queue notify true, batchSize 1, pollingIntervalSeconds 0.5" });
  }
  await b.stop({ graceful: false, timeout: 5000 }).catch((e) => log("stop:", e.message));
  await pool.end();
}

// ---------------------------------------------------------------- PgQ
// PgQ is event/batch oriented: producers insert events; a ticker (pgqd, emulated here by calling
// pgq.ticker()) cuts the event stream into batches; each consumer reads whole batches
// (next_batch / get_batch_events / finish_batch). There is no per-event ack, retry is per
// event via pgq.event_retry, and every consumer sees every event.
async function pgq() {
  const pool = new pg.Pool({ connectionString, max: Math.max(CLIENTS, 1) + 2 });
  await pool.query("create extension if not exists pgq");
  const version = await scalar(pool, "select extversion from pg_extension where extname = 'pgq'");
  const base = { version };
  await pool.query("select pgq.create_queue('q')");
  await pool.query("select pgq.register_consumer('q', 'c')");
  // Tick whenever at least one new event exists (pgqd default: ticker_max_count 500, max_lag 3 s).
  await pool.query("select pgq.set_queue_config('q', 'ticker_max_count', '1')");
  const insertBatch = (c, from, n) =>
    c.query("select count(pgq.insert_event('q', 'noop', x)) from unnest($1::text[]) x", [Array.from({ length: n }, (_, k) => JSON.stringify({ i: from + k }))]);

  if (workload === "enqueue_single") {
    const s = await concurrentLoops(N, CLIENTS, (i) => pool.query("select pgq.insert_event('q', 'noop', $1)", [JSON.stringify({ i })]));
    emit({ ...base, clients: CLIENTS, n: N, seconds: +s.toFixed(3), jobs_per_s: Math.round(N / s), settings: "pgq.insert_event, 1 event/tx" });
  } else if (workload === "enqueue_batch") {
    const s = await timedBatches((done, n) => insertBatch(pool, done, n));
    emit({ ...base, clients: 1, n: N, batch: BATCH, seconds: +s.toFixed(3), jobs_per_s: Math.round(N / s), settings: "select pgq.insert_event(...) from unnest($1::text[]), 1 batch/tx" });
  } else if (workload === "process") {
    const tickList = JSON.parse(process.env.PGQ_TICK_EVERY || JSON.stringify([500, 5000, N]));
    const results = [];
    const c = await pool.connect();
    for (const tickEvery of tickList) {
      // preload N events, one tick after every `tickEvery` events (pgqd default max_count is 500)
      await c.query("select pgq.ticker('q')");
      let sinceTick = 0;
      for (let i = 0; i < N; ) {
        const n = Math.min(BATCH, N - i, tickEvery - sinceTick);
        await insertBatch(c, i, n);
        i += n;
        sinceTick += n;
        if (sinceTick >= tickEvery || i >= N) {
          await c.query("select pgq.ticker('q')");
          sinceTick = 0;
        }
      }
      await c.query("checkpoint");
      let count = 0;
      let batches = 0;
      const t0 = now();
      for (let guard = 0; guard < 10 * N + 100; guard++) {
        await c.query("begin");
        const bid = await scalar(c, "select pgq.next_batch('q', 'c')");
        if (bid === null) {
          await c.query("commit");
          if (count >= N) break;
          throw new Error(`pgq: no batch but only ${count}/${N} consumed`);
        }
        const ev = await c.query("select ev_id, ev_type, ev_data from pgq.get_batch_events($1)", [bid]);
        for (const row of ev.rows) {
          // no-op handler
          count += row.ev_type === "noop" ? 1 : 0;
        }
        await c.query("select pgq.finish_batch($1)", [bid]);
        await c.query("commit");
        batches++;
      }
      const s = (now() - t0) / 1000;
      results.push({ settings: { tick_every_events: tickEvery, consumers: 1 }, batches, seconds: +s.toFixed(3), jobs_per_s: Math.round(N / s) });
      log(JSON.stringify(results.at(-1)));
    }
    c.release();
    const best = bestOf(results);
    emit({ ...base, n: N, seconds: best.seconds, jobs_per_s: best.jobs_per_s, settings: best.settings, tried: results, note: "batch consumer, one tx per batch; seconds from first next_batch to last finish_batch commit; ticks pre-made" });
  } else if (workload === "latency") {
    // Consumer emulates pgqd + a polling consumer: every PGQ_POLL_MS: pgq.ticker('q'), next_batch.
    // A tick can land between an event's nextval and its commit; that event then waits for the
    // next tick, which pgq.ticker() only makes after the idle back-off (max_lag/2, default 1.5 s).
    // Tuned here: ticker_max_lag = ticker_idle_period = 2 x poll period (PGQ_DEFAULT_LAG=1 keeps 3 s / 60 s).
    if (process.env.PGQ_DEFAULT_LAG !== "1") {
      await pool.query("select pgq.set_queue_config('q', 'ticker_max_lag', $1)", [`${2 * PGQ_POLL_MS} milliseconds`]);
      await pool.query("select pgq.set_queue_config('q', 'ticker_idle_period', $1)", [`${2 * PGQ_POLL_MS} milliseconds`]);
    }
    const c = await pool.connect();
    const probe = latencyProbe();
    let stop = false;
    const consumer = (async () => {
      for (let k = 0; !stop && k < 10_000_000; k++) {
        await c.query("select pgq.ticker('q')");
        await c.query("begin");
        const bid = await scalar(c, "select pgq.next_batch('q', 'c')");
        if (bid !== null) {
          const ev = await c.query("select ev_id, ev_type, ev_data from pgq.get_batch_events($1)", [bid]);
          for (let k = 0; k < ev.rows.length; k++) probe.started();
          await c.query("select pgq.finish_batch($1)", [bid]);
          await c.query("commit");
          continue; // a batch was found: look again at once
        }
        await c.query("commit");
        await sleep(PGQ_POLL_MS);
      }
    })();
    await sleep(300);
    const lat = await probe.measure((i) => pool.query("select pgq.insert_event('q', 'noop', $1)", [JSON.stringify({ i })]));
    stop = true;
    await consumer;
    c.release();
    emit({ ...base, ...lat, settings: `no LISTEN/NOTIFY in pgq: ticker+next_batch poll every ${PGQ_POLL_MS} ms, ticker_max_count 1, ` +
        (process.env.PGQ_DEFAULT_LAG === "1" ? "ticker_max_lag 3 s, idle_period 60 s (defaults)" : `ticker_max_lag = idle_period = ${2 * PGQ_POLL_MS} ms`) +
        " (pgqd default: ticker_period 1 s, max_count 500, max_lag 3 s)" });
  }
  await pool.end();
}

const impl = { gw, boss, pgq }[peer];
if (!impl || !["enqueue_single", "enqueue_batch", "process", "latency", "fifo"].includes(workload) ||
    (workload === "fifo" && peer !== "gw") || !dbname) {
  console.error("usage: node peers.mjs gw|boss|pgq enqueue_single|enqueue_batch|process|latency <db> [clients]");
  console.error("       node peers.mjs gw fifo <db> [workers]   (FIFO_GROUPS named queues)");
  process.exit(2);
}
try {
  await impl();
  process.exit(0);
} catch (e) {
  log(e?.stack || e);
  emit({ error: String(e?.message || e) });
  process.exit(1);
}
