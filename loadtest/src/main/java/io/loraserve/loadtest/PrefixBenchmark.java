package io.loraserve.loadtest;

import io.loraserve.engine.ModelRuntime;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.IntFunction;

/**
 * B14, prefix caching: the same model loaded twice side by side, prefix caching on and off, the
 * same requests on both, repetitions interleaved. Shared prefix: one request with the prefix runs
 * first (as an earlier request with the same system prompt would have), then 32 requests with that
 * prefix and distinct tails arrive together: their TTFT p50 and the time until all 32 have their
 * first token (the prefill). The same over 8 adapters (one earlier request per adapter, 4 of the
 * 32 on each): hits only within an adapter, so those earlier requests find nothing cached. A
 * multi-turn chat replay: 8 conversations with one system prompt, each turn resending the whole
 * history (the model's own answers included): generated tokens/s. The miss path: 32 random
 * prompts, end-to-end tokens/s with caching over without.
 */
final class PrefixBenchmark {
    /** Token counts; the full run's prompts need up to 520 positions, the quick run's 116. */
    record Sizes(int prefix, int distinct, int decode, int system, int conversations, int turns, int turnTokens,
                 int missPrompt, int missDecode) {
        static final Sizes FULL = new Sizes(480, 32, 8, 128, 8, 6, 24, 128, 64);
        static final Sizes QUICK = new Sizes(96, 16, 4, 32, 4, 3, 8, 32, 8);

        int maxModelLen() {
            return Math.max(prefix + distinct + decode, system + turns * 2 * turnTokens);
        }
    }

    /** Where a figure goes: {@link Benchmark}'s table and results. */
    interface Report {
        void ratio(String id, String name, double value, String goal, String what);
    }

    private final Benchmark.Settings s;
    private final Sizes sizes;
    private final int vocab;
    private final Report report;

    PrefixBenchmark(Benchmark.Settings s, Sizes sizes, int vocab, Report report) {
        this.s = s;
        this.sizes = sizes;
        this.vocab = vocab;
        this.report = report;
    }

    void run(Path modelDir, Path adapterDir) throws InterruptedException {
        try (ModelRuntime on = load(modelDir, adapterDir, true); ModelRuntime off = load(modelDir, adapterDir, false)) {
            EngineDriver cached = new EngineDriver(on);
            EngineDriver plain = new EngineDriver(off);
            for (ModelRuntime rt : List.of(on, off)) {
                for (int i = 0; i < 8; i++) {
                    rt.registry().load("a" + i, adapterDir.resolve("a" + i), false);
                }
            }
            cached.runTogether(randomJobs(1000).subList(0, 8));  // warm-up: the JIT compiles the kernels
            plain.runTogether(randomJobs(1001).subList(0, 8));
            sharedPrefix(cached, plain, 1, i -> null, "");
            sharedPrefix(cached, plain, 8, i -> "a" + (i % 8), "_8_adapters");
            chatReplay(cached, plain);
            missPath(cached, plain);
        }
    }

    private ModelRuntime load(Path modelDir, Path adapterDir, boolean caching) {
        return ModelRuntime.load(modelDir, "bench", Benchmark.settings(s).maxModelLen(sizes.maxModelLen())
                .maxAdapters(8).maxLoraRank(s.rank()).maxCpuAdapterBytes(8L << 30).adapterRoots(List.of(adapterDir))
                .prefixCaching(caching).build());
    }

    /** One shared-prefix round's figures. */
    private record Prefill(double ttftP50Nanos, double prefillNanos, long hitTokens, long earlierHitTokens) {
    }

    private void sharedPrefix(EngineDriver on, EngineDriver off, int adapters, IntFunction<String> adapter,
                              String suffix) throws InterruptedException {
        Prefill bestOn = null;
        Prefill bestOff = null;
        for (int r = 0; r < s.repeats(); r++) {
            long seed = 1100 + 10L * r + adapters;
            Prefill a = prefill(on, seed, adapters, adapter);
            Prefill b = prefill(off, seed, adapters, adapter);
            bestOn = bestOn == null || a.prefillNanos() < bestOn.prefillNanos() ? a : bestOn;
            bestOff = bestOff == null || b.prefillNanos() < bestOff.prefillNanos() ? b : bestOff;
        }
        report.ratio("B14", "prefix_prefill_speedup" + suffix, bestOff.prefillNanos() / bestOn.prefillNanos(), ">= 5",
                "prefill of 32 requests with a common " + sizes.prefix() + "-token prefix + " + sizes.distinct()
                        + " distinct" + (adapters > 1 ? " over " + adapters + " adapters" : "") + ", without / with"
                        + " caching (" + ms(bestOff.prefillNanos()) + " / " + ms(bestOn.prefillNanos()) + " ms; TTFT p50 "
                        + ms(bestOff.ttftP50Nanos()) + " / " + ms(bestOn.ttftP50Nanos()) + " ms; "
                        + bestOn.hitTokens() + " prompt tokens cached)");
        report.ratio("B14", "prefix_ttft_p50_speedup" + suffix, bestOff.ttftP50Nanos() / bestOn.ttftP50Nanos(), "-",
                "TTFT p50 of the same 32, without / with caching");
        if (adapters > 1) {
            report.ratio("B14", "cross_adapter_hit_tokens", bestOn.earlierHitTokens(), "0",
                    "prompt tokens the first request of each adapter found cached though another adapter had just"
                            + " computed the same prefix");
        }
    }

    /**
     * One request per adapter with the prefix (run one after another), then 32 with the prefix and
     * distinct tails together.
     */
    private Prefill prefill(EngineDriver d, long seed, int adapters, IntFunction<String> adapter)
            throws InterruptedException {
        SplittableRandom rng = new SplittableRandom(seed);
        int[] prefix = tokens(rng, sizes.prefix());
        prefix[0] = 1;
        long earlierHits = 0;
        for (int a = 0; a < adapters; a++) {
            EngineDriver.Trace t = d.submit(new EngineDriver.Job(adapter.apply(a), concat(prefix, tokens(rng,
                    sizes.distinct())), 1));
            EngineDriver.await(t);
            earlierHits += t.cachedTokens;
        }
        List<EngineDriver.Job> jobs = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            jobs.add(new EngineDriver.Job(adapter.apply(i), concat(prefix, tokens(rng, sizes.distinct())),
                    sizes.decode()));
        }
        long start = System.nanoTime();
        List<EngineDriver.Trace> traces = d.runTogether(jobs);
        double[] ttft = traces.stream().mapToDouble(t -> t.first() - t.submitted).sorted().toArray();
        long allFirst = traces.stream().mapToLong(EngineDriver.Trace::first).max().orElseThrow();
        long hits = traces.stream().mapToLong(t -> t.cachedTokens).sum();
        return new Prefill(ttft[ttft.length / 2], allFirst - start, hits, earlierHits);
    }

    /** Conversations sharing a system prompt; each turn adds a user message, resends everything and appends the answer. */
    private void chatReplay(EngineDriver on, EngineDriver off) throws InterruptedException {
        double bestOn = 0;
        double bestOff = 0;
        for (int r = 0; r < s.repeats(); r++) {
            bestOn = Math.max(bestOn, conversations(on, 1200 + r));
            bestOff = Math.max(bestOff, conversations(off, 1200 + r));
        }
        report.ratio("B14", "chat_replay_speedup", bestOn / bestOff, "-", sizes.conversations() + " conversations of "
                + sizes.turns() + " turns (" + sizes.system() + "-token system prompt, " + sizes.turnTokens()
                + "-token messages and answers), tok/s with / without caching (" + fmt(bestOn) + " / " + fmt(bestOff) + ")");
    }

    /** Runs the conversations at once; returns generated tokens per second of wall time. */
    private double conversations(EngineDriver d, long seed) throws InterruptedException {
        SplittableRandom rng = new SplittableRandom(seed);
        int[] system = tokens(rng, sizes.system());
        system[0] = 1;
        List<Thread> threads = new ArrayList<>();
        long[] generated = new long[sizes.conversations()];
        String[] failure = new String[1];
        long start = System.nanoTime();
        for (int c = 0; c < sizes.conversations(); c++) {
            int conversation = c;
            SplittableRandom own = rng.split();
            threads.add(Thread.ofVirtual().start(() -> {
                int[] history = system;
                try {
                    for (int turn = 0; turn < sizes.turns(); turn++) {
                        history = concat(history, tokens(own, sizes.turnTokens()));
                        EngineDriver.Trace t = d.submit(new EngineDriver.Job(null, history, sizes.turnTokens()));
                        EngineDriver.await(t);
                        history = concat(history, t.ids());
                        generated[conversation] += t.ids().length;
                    }
                } catch (InterruptedException | RuntimeException e) {
                    failure[0] = e.toString();
                }
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        if (failure[0] != null) {
            throw new IllegalStateException("chat replay failed: " + failure[0]);
        }
        return Arrays.stream(generated).sum() / ((System.nanoTime() - start) / 1e9);
    }

    /** Random prompts (new ones each repetition, the same on both runtimes): what caching costs when nothing hits. */
    private void missPath(EngineDriver on, EngineDriver off) throws InterruptedException {
        double bestOn = 0;
        double bestOff = 0;
        for (int r = 0; r < s.repeats(); r++) {
            bestOn = Math.max(bestOn, EngineDriver.endToEndTokensPerSecond(on.runTogether(randomJobs(1300 + r))));
            bestOff = Math.max(bestOff, EngineDriver.endToEndTokensPerSecond(off.runTogether(randomJobs(1300 + r))));
        }
        report.ratio("B14", "miss_path_vs_off", bestOn / bestOff, ">= 0.98", "tok/s of 32 random " + sizes.missPrompt()
                + "-token prompts + " + sizes.missDecode() + " tokens, caching on / off (" + fmt(bestOn) + " / "
                + fmt(bestOff) + ")");
    }

    private List<EngineDriver.Job> randomJobs(long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        List<EngineDriver.Job> jobs = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            int[] prompt = tokens(rng, sizes.missPrompt());
            prompt[0] = 1;
            jobs.add(new EngineDriver.Job(null, prompt, sizes.missDecode()));
        }
        return jobs;
    }

    private int[] tokens(SplittableRandom rng, int n) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = 3 + rng.nextInt(vocab - 3);
        }
        return t;
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static String ms(double nanos) {
        return fmt(nanos / 1e6);
    }

    private static String fmt(double v) {
        return String.format(Locale.ROOT, "%.1f", v);
    }
}
