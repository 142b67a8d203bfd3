package io.loraserve.loadtest;

import io.loraserve.engine.ModelRuntime;
import io.loraserve.engine.RuntimeSettings;
import io.loraserve.loadtest.SyntheticModel.Shape;
import io.loraserve.lora.AdapterEvents;
import io.loraserve.model.Proj;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import java.util.stream.Stream;

/**
 * B6, adapters at scale: {@code count} registered adapters on disk (q/v, rank 8 and 16 alternating), {@code
 * --max-adapters 16}, host copies capped at a quarter of their total size. Zipf(1.0) traffic from 32 closed-loop
 * streams against the same traffic on one adapter; the slowest first tokens of requests whose adapter had only its
 * files (disk → host → device); the host bytes sampled every millisecond against the cap; the first token of an
 * adapter loaded on first use against a resident one; and {@code names} distinct names requested once each (links
 * under the root to the same directories), with the process's resident memory and open descriptors before and after.
 */
final class AdapterScale {
    /** Where a figure goes: the benchmark's table and results. */
    interface Report {
        void ratio(String id, String name, double value, String goal, String what);
    }

    private static final int STREAMS = 32;
    private static final List<Proj> TARGETS = List.of(Proj.Q, Proj.V);

    private final Shape shape;
    private final Path work;
    private final int count;
    private final int names;
    private final int requests;
    private final int promptTokens;
    private final int decodeTokens;
    private final Function<Long, RuntimeSettings> settings;
    private final Report report;

    /** The adapters' directory, the runtime's only adapter root. */
    static Path root(Path work) {
        return work.resolve("b6-adapters");
    }

    /** {@code settings} gives the runtime's settings for a host cap in bytes (16 device slots, rank 16). */
    AdapterScale(Shape shape, Path work, boolean quick, int promptTokens, int decodeTokens,
                 Function<Long, RuntimeSettings> settings, Report report) {
        this.shape = shape;
        this.work = work;
        this.count = quick ? 200 : 1000;  // quick: the cap still holds more than 32 streams can pin at once
        this.names = quick ? 200 : 10_000;
        this.requests = quick ? 96 : 1024;
        this.promptTokens = promptTokens;
        this.decodeTokens = decodeTokens;
        this.settings = settings;
        this.report = report;
    }

    private static int rank(int i) {
        return i % 2 == 0 ? 8 : 16;
    }

    private long bytes(int i) {
        long perLayer = 0;
        for (Proj p : TARGETS) {
            perLayer += (long) rank(i) * (shape.in(p) + shape.out(p));
        }
        return 4 * perLayer * shape.layers();
    }

    void run(Path modelDir) throws IOException, InterruptedException {
        Path root = root(work);
        long total = 0;
        for (int i = 0; i < count; i++) {
            Path dir = root.resolve("b" + i);
            if (!Files.exists(dir.resolve("adapter_model.safetensors"))) {
                SyntheticModel.writeAdapter(dir, shape, rank(i), 5000 + i, TARGETS);
            }
            total += bytes(i);
        }
        long cap = total / 4;
        try (ModelRuntime rt = ModelRuntime.load(modelDir, "bench", settings.apply(cap))) {
            rt.registry().loadOnFirstUse(true);
            for (int i = 0; i < count; i++) {
                rt.registry().load("b" + i, root.resolve("b" + i), false);
            }
            EngineDriver driver = new EngineDriver(rt);
            closedLoop(rt, driver, i -> "b0", Math.min(requests, 128), null);  // warm-up
            double one = closedLoop(rt, driver, i -> "b0", requests, null).tokensPerSecond;
            Sampler sampler = new Sampler(rt);
            Run zipf = closedLoop(rt, driver, zipf(count, 11), requests, sampler);
            sampler.stop();
            report.ratio("B6", "zipf_vs_one_adapter", zipf.tokensPerSecond / one, ">= 0.8",
                    "tok/s, " + STREAMS + " streams, Zipf(1.0) over " + count + " adapters on disk / all on one ("
                            + fmt(zipf.tokensPerSecond) + " / " + fmt(one) + "); " + zipf.cold.size() + " cold");
            report.ratio("B6", "cold_ttft_p99_ms", percentile(zipf.cold, 0.99) / 1e6, "-",
                    "first token of a request whose adapter was only on disk (disk -> host -> device), p99; p50 "
                            + fmt(percentile(zipf.cold, 0.5) / 1e6) + " ms; warm p50 "
                            + fmt(percentile(zipf.warm, 0.5) / 1e6) + " ms, p99 "
                            + fmt(percentile(zipf.warm, 0.99) / 1e6) + " ms");
            report.ratio("B6", "host_bytes_max_over_cap", (double) sampler.max.get() / cap, "<= 1",
                    "largest host bytes sampled every ms / --max-cpu-adapter-bytes (" + sampler.max.get() + " / "
                            + cap + ", a quarter of " + total + ")");
            coldStart(driver, root);
            distinctNames(rt, driver, root);
        }
    }

    /** Result of a closed loop: generated tokens per second of wall time, first-token times cold and warm. */
    private record Run(double tokensPerSecond, List<Long> cold, List<Long> warm) {
    }

    private Run closedLoop(ModelRuntime rt, EngineDriver driver, Function<Integer, String> pick, int n, Sampler sampler)
            throws InterruptedException {
        List<Long> cold = Collections.synchronizedList(new ArrayList<>());
        List<Long> warm = Collections.synchronizedList(new ArrayList<>());
        AtomicLong next = new AtomicLong();
        AtomicLong tokens = new AtomicLong();
        long start = System.nanoTime();
        try (ExecutorService streams = Executors.newFixedThreadPool(STREAMS)) {
            List<Future<?>> all = new ArrayList<>();
            for (int s = 0; s < STREAMS; s++) {
                all.add(streams.submit(() -> {
                    for (long k; (k = next.getAndIncrement()) < n; ) {
                        String name = pick.apply((int) k);
                        boolean onDisk = rt.registry().get(name).map(a -> a.tier().equals(AdapterEvents.DISK))
                                .orElse(true);
                        EngineDriver.Trace t = driver.submit(job(name, k));
                        EngineDriver.await(t);
                        tokens.addAndGet(t.tokens.size());
                        (onDisk ? cold : warm).add(t.first() - t.submitted);
                    }
                    return null;
                }));
            }
            for (Future<?> f : all) {
                f.get();
            }
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
        return new Run(tokens.get() / ((System.nanoTime() - start) / 1e9), cold, warm);
    }

    /** Cold start: the first token of adapters loaded on first use against the same adapters once resident. */
    private void coldStart(EngineDriver driver, Path root)
            throws IOException, InterruptedException {
        List<Long> first = new ArrayList<>();
        List<Long> again = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            String name = "cold" + i;
            link(root, name, root.resolve("b" + i));
            EngineDriver.Trace t = driver.submit(job(name, i));
            EngineDriver.await(t);
            first.add(t.first() - t.submitted);
            EngineDriver.Trace u = driver.submit(job(name, i));
            EngineDriver.await(u);
            again.add(u.first() - u.submitted);
        }
        double cold = percentile(first, 0.5) / 1e6;
        double warm = percentile(again, 0.5) / 1e6;
        report.ratio("B6", "first_use_ttft_ms", cold, "-", "median first token of an adapter loaded on first use ("
                + "disk -> device); the same adapter right after: " + fmt(warm) + " ms");
    }

    /** Each of {@code names} distinct names requested once, loading on first use and evicting; RSS and fds. */
    private void distinctNames(ModelRuntime rt, EngineDriver driver, Path root)
            throws IOException, InterruptedException {
        for (int i = 0; i < names; i++) {
            link(root, "n" + i, root.resolve("b" + (i % count)));
        }
        int warmUp = names / 10;
        for (int i = 0; i < warmUp; i++) {
            EngineDriver.await(driver.submit(new EngineDriver.Job("n" + i, prompt(i), 1)));
        }
        long[] before = process();
        for (int i = warmUp; i < names; i++) {
            EngineDriver.await(driver.submit(new EngineDriver.Job("n" + i, prompt(i), 1)));
        }
        long[] after = process();
        report.ratio("B6", "distinct_names_rss_growth_mib", (after[0] - before[0]) / 1048576.0, "< 64",
                (names - warmUp) + " distinct names loaded on first use, one request each: resident memory "
                        + before[0] / 1048576 + " -> " + after[0] / 1048576 + " MiB; open fds " + before[1] + " -> "
                        + after[1] + "; host bytes " + rt.registry().hostBytes() + "; "
                        + rt.registry().names().size() + " registered");
        report.ratio("B6", "distinct_names_fd_growth", after[1] - before[1], "< 16",
                "open file descriptors after / before the " + (names - warmUp) + " first uses");
    }

    /** A link {@code root/name -> target}: a name of its own for an adapter directory already under the root. */
    private static void link(Path root, String name, Path target) throws IOException {
        Path l = root.resolve(name);
        if (!Files.exists(l, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            Files.createSymbolicLink(l, target);
        }
    }

    /** Resident bytes and open descriptors of this process, from /proc. */
    private static long[] process() throws IOException {
        System.gc();
        long rss = Files.readAllLines(Path.of("/proc/self/status")).stream().filter(l -> l.startsWith("VmRSS:"))
                .mapToLong(l -> Long.parseLong(l.replaceAll("\\D", "")) * 1024).findFirst().orElse(-1);
        long fds;
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            fds = s.count();
        }
        return new long[] {rss, fds};
    }

    private EngineDriver.Job job(String adapter, long k) {
        return new EngineDriver.Job(adapter, prompt(k), decodeTokens);
    }

    private int[] prompt(long k) {
        SplittableRandom rng = new SplittableRandom(k);
        int[] prompt = new int[promptTokens];
        prompt[0] = 1;
        for (int i = 1; i < prompt.length; i++) {
            prompt[i] = 3 + rng.nextInt(shape.vocab() - 3);
        }
        return prompt;
    }

    /** Request k's adapter: b0..b(n-1) drawn with probability ∝ 1/(rank+1), Zipf(1.0), from a fixed seed. */
    private static Function<Integer, String> zipf(int n, long seed) {
        double[] cumulative = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += 1.0 / (i + 1);
            cumulative[i] = sum;
        }
        double norm = sum;
        return k -> {
            double u = new SplittableRandom(seed * 1_000_003 + k).nextDouble() * norm;
            int i = Arrays.binarySearch(cumulative, u);
            return "b" + Math.min(n - 1, i < 0 ? -i - 1 : i);
        };
    }

    private static double percentile(List<Long> values, double q) {
        if (values.isEmpty()) {
            return Double.NaN;
        }
        List<Long> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(q * sorted.size()) - 1));
    }

    private static String fmt(double v) {
        return String.format(java.util.Locale.ROOT, "%.1f", v);
    }

    /** Samples the host tier's bytes every millisecond on its own thread; keeps the largest. */
    private static final class Sampler {
        final AtomicLong max = new AtomicLong();
        private final AtomicBoolean stop = new AtomicBoolean();
        private final Thread thread;

        Sampler(ModelRuntime rt) {
            thread = Thread.ofPlatform().daemon().start(() -> {
                while (!stop.get()) {
                    max.accumulateAndGet(rt.registry().hostBytes(), Math::max);
                    try {
                        Thread.sleep(1);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
        }

        void stop() throws InterruptedException {
            stop.set(true);
            thread.join();
        }
    }
}
