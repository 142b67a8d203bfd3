package io.loraserve.engine;

import io.loraserve.lora.Adapter;
import io.loraserve.lora.AdapterPlacement;
import io.loraserve.lora.MergedWeights;
import io.loraserve.model.Bypass;
import io.loraserve.model.DeviceSampler;
import io.loraserve.model.ForwardBatch;
import io.loraserve.model.LayerWeights;
import io.loraserve.model.LlamaModel;
import io.loraserve.model.LlamaWeights;
import io.loraserve.model.PagedKvCache;
import io.loraserve.model.Sampler;
import io.loraserve.model.Scoring;
import io.loraserve.tensor.OpCounter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.bytedeco.javacpp.PointerScope;

/**
 * The engine loop: one thread that owns every libtorch call after start-up. Other threads
 * talk to it only through {@link #submit}, {@link #cancel} and {@link #execute}, which queue
 * commands; results flow back through each request's {@link TokenSink}.
 *
 * <p>Each step: run queued commands, end timed-out requests, ask the {@link Scheduler} for work
 * (it counts adapters, it places none), activate the step's adapters through the
 * {@link AdapterPlacement} (slots uploaded, merged copies built), run one forward for the whole batch
 * (temporaries in a {@link PointerScope} closed at the end of the step), sample, and hand tokens to
 * sinks. A step that throws fails only the requests in
 * it; the loop goes on.
 */
public final class Engine implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(Engine.class.getName());

    private final LlamaModel model;
    private final LlamaWeights weights;
    private final PagedKvCache cache;
    private final BlockPool pool;
    private final AdapterPlacement placement;
    private final EngineConfig config;
    private final Scheduler scheduler;
    private final LinkedBlockingQueue<Runnable> inbox = new LinkedBlockingQueue<>();
    private final AtomicInteger queued = new AtomicInteger();
    private final Thread thread;
    private volatile boolean stopping;
    private volatile boolean draining;
    private volatile EngineStats stats;
    private volatile long lastProgressNanos = System.nanoTime();
    private volatile EngineListener listener = EngineListener.NONE;
    private volatile String deviceFault;  // why the device is unusable, null while it works
    private long order;
    private Counting counting;  // open while countSteps counts, else null
    private long steps;
    private long generatedTokens;

    public Engine(LlamaModel model, LlamaWeights weights, PagedKvCache cache, AdapterPlacement placement,
                  EngineConfig config) {
        this.model = model;
        this.weights = weights;
        this.cache = cache;
        this.placement = placement;
        this.config = config;
        this.pool = new BlockPool(cache, config.prefixCaching());
        this.scheduler = new Scheduler(config, pool, placement.slotCount());
        this.stats = snapshot();
        this.thread = Thread.ofPlatform().name("engine").daemon(true).unstarted(this::loop);
    }

    public void start() {
        thread.start();
    }

    /** Who hears about requests and steps from now on; set before traffic arrives. */
    public void setListener(EngineListener listener) {
        this.listener = listener;
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
            rs.forEach(r -> listener.requestRejected(adapterName(r)));
            throw new EngineBusyException(deviceFault != null ? "the device failed (" + deviceFault
                    + "); the server must be restarted" : "the server is shutting down", true);
        }
        if (queued.addAndGet(rs.size()) > config.maxQueued()) {
            queued.addAndGet(-rs.size());
            rs.forEach(r -> listener.requestRejected(adapterName(r)));
            throw new EngineBusyException("too many requests waiting (" + config.maxQueued()
                    + "); retry shortly", false);
        }
        List<Request> batch = List.copyOf(rs);
        long arrival = System.nanoTime();
        inbox.add(() -> batch.forEach(r -> scheduler.enqueue(new Sequence(r, order++, arrival))));
    }

    /** How many requests may wait for admission at once ({@code --max-queued-requests}). */
    public int maxQueued() {
        return config.maxQueued();
    }

    /** Ends request {@code id} within one step and frees its KV blocks; unknown ids are ignored. */
    public void cancel(String id) {
        inbox.add(() -> scheduler.removeIf(s -> s.request.id().equals(id), s -> finish(s, FinishReason.CANCELLED)));
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
                placement.pin(adapter);
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
            placement.unpin(adapter);
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
        return !busy || System.nanoTime() - lastProgressNanos < config.stepWatchdog().toNanos();
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
            listener.queues(byAdapter(scheduler.running()), byAdapter(scheduler.waiting()));
        }
    }

    private static Map<String, Integer> byAdapter(Iterable<Sequence> seqs) {
        Map<String, Integer> counts = new HashMap<>();
        seqs.forEach(s -> counts.merge(adapterName(s.request), 1, Integer::sum));
        return counts;
    }

    private static String adapterName(Request r) {
        return r.adapter() == null ? null : r.adapter().name();
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
        if (config.requestTimeout().isZero()) {
            return;
        }
        long limit = System.nanoTime() - config.requestTimeout().toNanos();
        scheduler.removeIf(s -> s.arrivalNanos < limit, s -> finish(s, FinishReason.TIMEOUT));
    }

    private void step() {
        List<Scheduler.Work> plan = scheduler.schedule();
        queued.set(scheduler.waitingCount());
        if (!plan.isEmpty()) {
            long start = System.nanoTime();
            int sampled = 0;
            plan = activate(plan);
            for (List<Scheduler.Work> pass : Passes.of(plan, placement)) {
                if (deviceFault != null) {
                    break;  // deviceFailed has failed and removed every sequence of the step
                }
                sampled += run(pass);
            }
            steps++;
            countedStep();
            listener.stepDone(plan.size(), plan.stream().mapToInt(Scheduler.Work::tokens).sum(), sampled,
                    System.nanoTime() - start);
        }
        placement.releaseUnused(scheduler.slotted());
    }

    /**
     * Before the forward: puts the step's adapters where it reads them (a slot for each newly counted sequence's
     * adapter, a merged copy for a pinned one that has none yet). An adapter that cannot be placed fails its
     * requests (a device fault fails them all); returns the plan without them.
     */
    private List<Scheduler.Work> activate(List<Scheduler.Work> plan) {
        Map<Adapter, Throwable> failed = new IdentityHashMap<>();
        for (Sequence s : scheduler.takePlaced()) {
            Adapter a = s.request.adapter();
            try {
                placement.acquireSlot(a, scheduler.slotted());
            } catch (RuntimeException | OutOfMemoryError e) {
                failed.put(a, e);
            }
        }
        for (Scheduler.Work w : plan) {
            Adapter a = w.seq().request.adapter();
            if (a != null && !failed.containsKey(a)) {
                try {
                    placement.activate(a);
                } catch (RuntimeException | OutOfMemoryError e) {
                    failed.put(a, e);
                }
            }
        }
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
        scheduler.removeIf(s -> failed.containsKey(s.request.adapter()), s -> failRemoved(s, failed.get(s.request.adapter())));
        return plan.stream().filter(w -> !failed.containsKey(w.seq().request.adapter())).toList();
    }

    /**
     * Runs one forward pass and samples; returns how many tokens it sampled. Under the GPU policy the
     * pass's rows are sampled on the device inside the pass's scope ({@link DeviceSampler}), so a
     * sampling failure there fails the whole pass; on the host each row is sampled on its own.
     */
    @SuppressWarnings("try")  // the PointerScope owns the temporaries; the body need not name it
    private int run(List<Scheduler.Work> pass) {
        LlamaModel.Output out;
        Sampler.Sample[] onDevice = null;
        ForwardBatch batch = Passes.batch(pass);
        Scoring scoring = Passes.scoring(pass);
        MergedWeights m = placement.merged(pass.get(0).seq().request.adapter());
        List<LayerWeights> layers = m != null ? m.layers() : weights.layers();
        try (PointerScope scope = new PointerScope()) {
            Bypass bypass = m != null ? Bypass.NONE : Passes.bypass(pass, placement, model.device(), model.gpuPolicy());
            out = model.forward(batch, weights, layers, bypass, cache, scoring);
            if (out.deviceLogits() != null) {
                onDevice = DeviceSampler.sample(out.deviceLogits(), deviceRows(pass));
            }
        } catch (RuntimeException | OutOfMemoryError e) {
            lastProgressNanos = System.nanoTime();
            if (DeviceFault.fatal(e)) {
                deviceFailed(e);
                return 0;
            }
            LOG.log(Level.SEVERE, "forward pass failed; failing its " + pass.size() + " requests", e);
            for (Scheduler.Work w : pass) {
                fail(w.seq(), e);
            }
            return 0;
        }
        lastProgressNanos = System.nanoTime();
        int row = 0;
        int scored = 0;
        int vocab = model.config().vocab();
        for (Scheduler.Work w : pass) {
            Sequence s = w.seq();
            scored = keepScores(s, w.tokens(), out.scores(), scored);
            s.computed += w.tokens();
            pool.registerFull(s);
            if (s.computed == s.length()) {
                try {
                    emit(s, onDevice != null ? onDevice[row] : hostSample(s, out.logits(), row * vocab, vocab));
                } catch (RuntimeException | Error e) {
                    failOne(s, e);
                }
                row++;
            }
        }
        return row;
    }

    /** The sampling rows of a pass for {@link DeviceSampler}, in logits row order; each takes a seed from its request's stream. */
    private static List<DeviceSampler.Row> deviceRows(List<Scheduler.Work> pass) {
        List<DeviceSampler.Row> rows = new ArrayList<>();
        for (Scheduler.Work w : pass) {
            Sequence s = w.seq();
            if (s.computed + w.tokens() == s.length()) {
                Request r = s.request;
                rows.add(new DeviceSampler.Row(r.sampling(), s.rng.nextLong(), r.promptIds(),
                        r.sampling().penalized() ? s.generatedTokens() : new int[0],
                        s.matcher == null ? null : s.matcher.allowed()));
            }
        }
        return rows;
    }

    private static Sampler.Sample hostSample(Sequence s, float[] logits, int offset, int vocab) {
        Request r = s.request;
        return Sampler.sample(logits, offset, vocab, r.sampling(), s.rng, r.promptIds(),
                r.sampling().penalized() ? s.generatedTokens() : new int[0], s.matcher == null ? null : s.matcher.allowed());
    }

    /**
     * Sampling or handing over a token threw: that request fails, the others of the pass go on.
     * A request the failing call had already ended is not failed twice.
     */
    private void failOne(Sequence s, Throwable e) {
        LOG.log(Level.SEVERE, "sampling or delivering a token of " + s.request.id() + " failed", e);
        if (scheduler.running().contains(s)) {
            try {
                fail(s, e);
            } catch (RuntimeException again) {
                LOG.log(Level.WARNING, "the failed request's sink failed too", again);
            }
        }
    }

    /** Ends {@code s} with the engine's failure {@code e}: blocks and adapter reference freed, the client told. */
    private void fail(Sequence s, Throwable e) {
        scheduler.remove(s);
        failRemoved(s, e);
    }

    /** {@link #fail} of a sequence the scheduler no longer holds. */
    private void failRemoved(Sequence s, Throwable e) {
        listener.requestFailed(adapterName(s.request));
        release(s);
        s.request.sink().onError("the engine failed to run this request: " + e.getMessage(), false);
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
        listener.deviceFault();
        failHeld();
    }

    /** After a device fault: fails every request the scheduler holds, each once, whatever its sink does. */
    private void failHeld() {
        scheduler.removeIf(s -> true, s -> {
            listener.requestFailed(adapterName(s.request));
            release(s);
            try {
                s.request.sink().onError("the device failed (" + deviceFault + "); the server must be restarted",
                        false);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "the failed request's sink failed too", e);
            }
        });
    }

    /** Appends the scores of {@code s}'s prompt positions in this pass (from result row {@code next}); returns the next row. */
    private static int keepScores(Sequence s, int tokens, Scoring.Result scores, int next) {
        int top = s.request.promptLogprobs();
        for (int p = s.scoreFrom(); p < s.scoreTo(tokens); p++, next++) {
            Sampler.Candidate[] alternatives = new Sampler.Candidate[top];
            for (int k = 0; k < top; k++) {
                int at = next * scores.top() + k;
                alternatives[k] = new Sampler.Candidate((int) scores.topIds()[at], scores.topLogprobs()[at]);
            }
            s.promptScores.add(new Sampler.Sample(s.token(p + 1), scores.logprobs()[next], alternatives));
        }
        return next;
    }

    private void emit(Sequence s, Sampler.Sample sample) {
        Request r = s.request;
        if (s.generated() == 0 && s.promptScores != null) {
            r.sink().onPromptLogprobs(List.copyOf(s.promptScores));
        }
        if (s.matcher != null) {
            s.matcher.advance(sample.token());
        }
        s.append(sample.token());
        generatedTokens++;
        if (s.firstTokenNanos == 0) {
            s.firstTokenNanos = System.nanoTime();
            listener.firstToken(adapterName(r), s.firstTokenNanos - s.arrivalNanos);
        }
        boolean wantsMore = r.sink().onToken(sample);
        boolean eos = (!r.ignoreEos() || s.matcher != null) && model.config().eosTokenIds().contains(sample.token());
        if (!wantsMore || eos || r.stopTokenIds().contains(sample.token())) {
            end(s, FinishReason.STOP);
        } else if (s.generated() >= r.maxTokens() || s.length() >= config.maxModelLen()) {
            end(s, FinishReason.LENGTH);
        }
    }

    private void end(Sequence s, FinishReason reason) {
        scheduler.remove(s);
        finish(s, reason);
    }

    private void finish(Sequence s, FinishReason reason) {
        release(s);
        s.request.sink().onFinish(reason, s.promptLength, s.generated(), Math.max(0, s.cachedTokens));
        listener.requestFinished(adapterName(s.request), reason, s.promptLength, s.generated(),
                System.nanoTime() - s.arrivalNanos, s.firstTokenNanos == 0 ? -1 : s.firstTokenNanos - s.arrivalNanos);
    }

    private static void release(Sequence s) {
        if (s.request.adapter() != null) {
            s.request.adapter().release();
        }
    }

    private EngineStats snapshot() {
        return new EngineStats(scheduler.runningCount(), scheduler.waitingCount() + inbox.size(),
                pool.held(), pool.blocks(), steps, scheduler.preemptions(), generatedTokens, pool.cached(),
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
        scheduler.removeIf(s -> true, s -> finish(s, FinishReason.CANCELLED));
        if (counting != null) {
            counting.done().completeExceptionally(new IllegalStateException("the engine stopped"));
        }
    }
}
