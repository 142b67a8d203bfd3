package io.loraserve.engine;

import io.loraserve.lora.Adapter;
import io.loraserve.lora.AdapterPlacement;
import io.loraserve.model.LlamaModel;
import io.loraserve.model.LlamaWeights;
import io.loraserve.model.PagedKvCache;
import io.loraserve.tensor.OpCounter;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The engine loop: one thread that owns every libtorch call after start-up. Other threads
 * talk to it only through {@link #submit}, {@link #cancel} and {@link #execute}, which queue
 * commands; results flow back through each request's {@link TokenSink}.
 *
 * <p>Each step, as schedule → run → postprocess: run queued commands, end timed-out requests, ask the
 * {@link Scheduler} for work (it counts adapters, it places none), let the {@link ModelRunner} activate the step's
 * adapters through the {@link AdapterPlacement} (slots uploaded, merged copies built) and run one forward per pass
 * (temporaries in a {@link org.bytedeco.javacpp.PointerScope} closed at the end of the pass), then hand each sampled
 * token to its request's sink and end the requests that are done. A step that throws fails only the requests in it;
 * the loop goes on.
 */
public final class Engine implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(Engine.class.getName());

    private final ModelRunner runner;
    private final BlockPool pool;
    private final EngineConfig config;
    private final Scheduler scheduler;
    private final Delivery delivery;
    private final LinkedBlockingQueue<Runnable> inbox = new LinkedBlockingQueue<>();
    private final AtomicInteger queued = new AtomicInteger();
    private final Thread thread;
    private volatile boolean stopping;
    private volatile boolean draining;
    private volatile EngineStats stats;
    private volatile long lastProgressNanos = System.nanoTime();
    private volatile String deviceFault;  // why the device is unusable, null while it works
    private long order;
    private Counting counting;  // open while countSteps counts, else null
    private long steps;

    Engine(LlamaModel model, LlamaWeights weights, PagedKvCache cache, AdapterPlacement placement,
           EngineConfig config) {
        this.runner = new ModelRunner(model, weights, cache, placement);
        this.config = config;
        this.pool = new BlockPool(cache, config.prefixCaching());
        this.scheduler = new Scheduler(config.scheduler(), pool, placement.slotCount());
        this.delivery = new Delivery(scheduler, runner::isEos, config.maxModelLen());
        this.stats = snapshot();
        this.thread = Thread.ofPlatform().name("engine").daemon(true).unstarted(this::loop);
    }

    public void start() {
        thread.start();
    }

    /** Who hears about requests and steps from now on; set before traffic arrives. */
    public void setListener(EngineListener listener) {
        delivery.setListener(listener);
    }

    /** Queues {@code r}: {@link #submitAll} of one. */
    public void submit(Request r) {
        submitAll(List.of(r));
    }

    /**
     * Queues every request of {@code rs} or none: throws {@link EngineBusyException} when they do
     * not all fit in the queue or the engine is draining, so one API request's choices are never
     * refused halfway. Once accepted, the engine owns each request's adapter reference and
     * releases it when the request ends, however it ends; refused requests' references stay with
     * the caller.
     */
    public void submitAll(List<Request> rs) {
        if (draining || stopping || deviceFault != null) {
            rs.forEach(r -> delivery.listener().requestRejected(Delivery.name(r)));
            throw new EngineBusyException(deviceFault != null ? "the device failed (" + deviceFault
                    + "); the server must be restarted" : "the server is shutting down", true);
        }
        if (queued.addAndGet(rs.size()) > config.scheduler().maxQueued()) {
            queued.addAndGet(-rs.size());
            rs.forEach(r -> delivery.listener().requestRejected(Delivery.name(r)));
            throw new EngineBusyException("too many requests waiting (" + config.scheduler().maxQueued()
                    + "); retry shortly", false);
        }
        List<Request> batch = List.copyOf(rs);
        long arrival = System.nanoTime();
        inbox.add(() -> batch.forEach(r -> scheduler.enqueue(new Sequence(r, order++, arrival))));
    }

    /** How many requests may wait for admission at once ({@code --max-queued-requests}). */
    public int maxQueued() {
        return config.scheduler().maxQueued();
    }

    /** Ends request {@code id} within one step and frees its KV blocks; unknown ids are ignored. */
    public void cancel(String id) {
        inbox.add(() -> scheduler.removeIf(s -> s.request.id().equals(id), s -> delivery.finish(s, FinishReason.CANCELLED)));
    }

    /** Runs {@code task} on the engine thread between two steps. */
    public void execute(Runnable task) {
        inbox.add(task);
    }

    /** Builds the merged copy of {@code adapter} on the engine thread; its requests then run from it. */
    public CompletableFuture<Void> pin(Adapter adapter) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        inbox.add(() -> {
            try {
                runner.pin(adapter);
                done.complete(null);
            } catch (RuntimeException | OutOfMemoryError e) {
                if (DeviceFault.fatal(e)) {
                    deviceFailed(e);
                }
                done.completeExceptionally(e);
            }
        });
        return done;
    }

    /** Frees {@code adapter}'s merged copy between steps; its requests go back to the bypass. */
    public CompletableFuture<Void> unpin(Adapter adapter) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        inbox.add(() -> {
            runner.unpin(adapter);
            done.complete(null);
        });
        return done;
    }

    /**
     * Counts the native ops and host syncs of the next {@code n} steps that run a batch (for benchmarks
     * and tests: it slows them). Completes after the n-th; steps without work are not counted.
     */
    public CompletableFuture<StepCounts> countSteps(int n) {
        CompletableFuture<StepCounts> done = new CompletableFuture<>();
        inbox.add(() -> {
            if (counting != null) {
                done.completeExceptionally(new IllegalStateException("already counting steps"));
                return;
            }
            counting = new Counting(OpCounter.open(), steps, n, done);
        });
        return done;
    }

    /** An open count: from step {@code from}, {@code n} steps; engine thread only. */
    private record Counting(OpCounter counter, long from, int n, CompletableFuture<StepCounts> done) {
    }

    private void countedStep() {
        Counting c = counting;
        if (c != null && steps - c.from() >= c.n()) {
            c.counter().close();
            counting = null;
            OpCounter k = c.counter();
            c.done().complete(new StepCounts(c.n(), k.ops(), k.views(), k.syncs(), k.syncBytes(), k.byName()));
        }
    }

    /** Stops admitting new requests; running and queued ones go on. */
    public void drain() {
        draining = true;
    }

    public int maxModelLen() {
        return config.maxModelLen();
    }

    public EngineStats stats() {
        return stats;
    }

    /**
     * Why the device can no longer be used (a CUDA error that corrupts its context), or null. Once
     * set it stays: the engine stops stepping, fails what it holds and refuses new requests.
     */
    public String deviceFault() {
        return deviceFault;
    }

    /** False while work is queued but no step has completed for {@code --step-watchdog}. */
    public boolean healthy() {
        EngineStats s = stats;
        boolean busy = s.running() + s.waiting() > 0 || !inbox.isEmpty();
        return !busy || System.nanoTime() - lastProgressNanos < config.scheduler().stepWatchdog().toNanos();
    }

    private void loop() {
        while (!stopping) {
            try {
                if (scheduler.idle()) {
                    Runnable first = inbox.poll(200, TimeUnit.MILLISECONDS);
                    lastProgressNanos = System.nanoTime();
                    if (first != null) {
                        runCommand(first);
                    }
                }
                drainInbox();
                expireTimeouts();
                if (deviceFault == null) {
                    step();
                } else {
                    failHeld();  // requests queued while the fault landed; the loop then idles on the inbox
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (RuntimeException | Error e) {
                if (DeviceFault.fatal(e)) {
                    deviceFailed(e);
                } else {
                    LOG.log(Level.SEVERE, "engine loop error", e);
                }
            }
            stats = snapshot();
            delivery.listener().queues(byAdapter(scheduler.running()), byAdapter(scheduler.waiting()));
        }
    }

    private static Map<String, Integer> byAdapter(Iterable<Sequence> seqs) {
        Map<String, Integer> counts = new HashMap<>();
        seqs.forEach(s -> counts.merge(Delivery.name(s.request), 1, Integer::sum));
        return counts;
    }

    private void drainInbox() {
        for (Runnable r; (r = inbox.poll()) != null; ) {
            runCommand(r);
        }
    }

    private void runCommand(Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            if (DeviceFault.fatal(e)) {
                deviceFailed(e);
            } else {
                LOG.log(Level.WARNING, "engine command failed", e);
            }
        }
        queued.set(scheduler.waitingCount());
    }

    private void expireTimeouts() {
        if (config.scheduler().requestTimeout().isZero()) {
            return;
        }
        long limit = System.nanoTime() - config.scheduler().requestTimeout().toNanos();
        scheduler.removeIf(s -> s.arrivalNanos < limit, s -> delivery.finish(s, FinishReason.TIMEOUT));
    }

    private void step() {
        List<Scheduler.Work> plan = scheduler.schedule();
        queued.set(scheduler.waitingCount());
        if (!plan.isEmpty()) {
            long start = System.nanoTime();
            int sampled = 0;
            plan = activate(plan);
            for (List<Scheduler.Work> pass : runner.passes(plan)) {
                if (deviceFault != null) {
                    break;  // deviceFailed has failed and removed every sequence of the step
                }
                sampled += run(pass);
            }
            steps++;
            countedStep();
            delivery.listener().stepDone(plan.size(), plan.stream().mapToInt(Scheduler.Work::tokens).sum(), sampled,
                    System.nanoTime() - start);
        }
        runner.releaseUnused(scheduler.slotted());
    }

    /**
     * Before the forward: the model runner puts the step's adapters where it reads them. An adapter that cannot be
     * placed fails its requests (a device fault fails them all); returns the plan without them.
     */
    private List<Scheduler.Work> activate(List<Scheduler.Work> plan) {
        Map<Adapter, Throwable> failed = runner.activate(scheduler.takePlaced(), scheduler.slotted(), plan);
        if (failed.isEmpty()) {
            return plan;
        }
        for (Throwable e : failed.values()) {
            if (DeviceFault.fatal(e)) {
                deviceFailed(e);
                return List.of();
            }
        }
        failed.forEach((a, e) -> LOG.log(Level.SEVERE, "placing adapter '" + a.name() + "' failed; failing its requests", e));
        scheduler.removeIf(s -> failed.containsKey(s.request.adapter()), s -> delivery.failRemoved(s, failed.get(s.request.adapter())));
        return plan.stream().filter(w -> !failed.containsKey(w.seq().request.adapter())).toList();
    }

    /** Runs one pass's forward and delivers its tokens; returns how many it sampled. A failed forward fails the pass. */
    private int run(List<Scheduler.Work> pass) {
        ModelRunner.Result result;
        try {
            result = runner.forward(pass);
        } catch (RuntimeException | OutOfMemoryError e) {
            lastProgressNanos = System.nanoTime();
            if (DeviceFault.fatal(e)) {
                deviceFailed(e);
                return 0;
            }
            LOG.log(Level.SEVERE, "forward pass failed; failing its " + pass.size() + " requests", e);
            for (Scheduler.Work w : pass) {
                delivery.fail(w.seq(), e);
            }
            return 0;
        }
        lastProgressNanos = System.nanoTime();
        int row = 0;
        int scored = 0;
        for (Scheduler.Work w : pass) {
            Sequence s = w.seq();
            scored = s.keepScores(w.tokens(), result.scores(), scored);
            s.computed += w.tokens();
            pool.registerFull(s);
            if (s.computed == s.length()) {
                int sampled = row++;
                delivery.token(s, () -> result.sample(s, sampled));
            }
        }
        return row;
    }

    /**
     * The device is unusable ({@link DeviceFault}): said once in the log and to the listener, every
     * request held fails, and from now on the engine only refuses (readiness reports why).
     */
    private void deviceFailed(Throwable e) {
        if (deviceFault != null) {
            return;
        }
        deviceFault = DeviceFault.summary(DeviceFault.cause(e));
        LOG.log(Level.SEVERE, "device fault: " + deviceFault + ". The device context is unusable: failing every"
                + " request, refusing new ones, readiness fails; restart the process", e);
        delivery.listener().deviceFault();
        failHeld();
    }

    /** After a device fault: fails every request the scheduler holds. */
    private void failHeld() {
        delivery.failAll("the device failed (" + deviceFault + "); the server must be restarted");
    }

    private EngineStats snapshot() {
        return new EngineStats(scheduler.runningCount(), scheduler.waitingCount() + inbox.size(),
                pool.held(), pool.blocks(), steps, scheduler.preemptions(), delivery.generatedTokens(), pool.cached(),
                pool.queriedTokens(), pool.hitTokens());
    }

    /** Stops the loop after the current step; queued requests are cancelled. */
    @Override
    public void close() {
        stopping = true;
        thread.interrupt();
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        scheduler.removeIf(s -> true, s -> delivery.finish(s, FinishReason.CANCELLED));
        if (counting != null) {
            counting.done().completeExceptionally(new IllegalStateException("the engine stopped"));
        }
    }
}
