package io.loraserve.loadtest;

import io.loraserve.constraint.Constraint;
import io.loraserve.constraint.ConstraintCache;
import io.loraserve.constraint.ConstraintSpec;
import io.loraserve.engine.ModelRuntime;
import io.loraserve.engine.RuntimeSettings;
import io.loraserve.engine.StepCounts;
import io.loraserve.loadtest.SyntheticModel.Shape;
import io.loraserve.lora.Adapter;
import io.loraserve.model.SamplingParams;
import io.loraserve.tensor.NativeMemory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The engine benchmark: generates a model in SmolLM-135M's shape and 32 rank-16 all-linear
 * adapters, loads them into one runtime, and prints ratios measured side by side in this run
 * (B1 multi-adapter vs base, B2 batched vs sequential, B3 pinned vs base, B4 hot loading,
 * B7 GEMM efficiency, B8 weight bandwidth, B9 sampling cost, B10 bfloat16 vs float32, B11 native ops and host
 * syncs per decode step under the CPU and the GPU policy, B12 int8 vs float32, B13 structured-output cost, B14 prefix caching in
 * {@link PrefixBenchmark}; B6, adapters at scale, only when asked with {@code --only B6}: see
 * {@link AdapterScale}). {@code --quick} uses a tiny shape so the whole run takes seconds.
 */
public final class Benchmark {
    private final Settings s;
    private final Map<String, Object> results = new LinkedHashMap<>();
    private final List<String> table = new ArrayList<>();

    /** What to run. */
    record Settings(SyntheticModel.Shape shape, Path work, int adapters, int rank, int promptTokens, int decodeTokens,
                    int repeats, int threads, String device, String dtype, boolean json, java.util.Set<String> only) {
        static Settings parse(String[] args) {
            boolean quick = List.of(args).contains("--quick");
            boolean json = List.of(args).contains("--json");
            Path work = Path.of("target/bench");
            int threads = Runtime.getRuntime().availableProcessors();
            String device = "cpu";
            String dtype = "float32";
            Shape shape = Shape.SMOLLM_135M;
            java.util.Set<String> only = java.util.Set.of("B1", "B2", "B3", "B4", "B7", "B8", "B9", "B10", "B11", "B12", "B13", "B14");
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--quick", "--json" -> { }
                    case "--work" -> work = Path.of(args[++i]);
                    case "--threads" -> threads = Integer.parseInt(args[++i]);
                    case "--device" -> device = args[++i];
                    case "--dtype" -> dtype = args[++i];
                    case "--shape" -> shape = switch (args[++i]) {
                        case "smollm" -> Shape.SMOLLM_135M;
                        case "8b-width" -> Shape.LLAMA_8B_WIDTH;
                        default -> throw new IllegalArgumentException("--shape is smollm or 8b-width, not " + args[i]);
                    };
                    case "--only" -> only = java.util.Set.of(args[++i].toUpperCase(Locale.ROOT).split(","));
                    default -> throw new IllegalArgumentException("unknown argument " + args[i]
                            + " (usage: Benchmark [--quick] [--json] [--work DIR] [--threads N] [--device cpu|cuda[:N]]"
                            + " [--dtype float32|bfloat16|float16] [--shape smollm|8b-width] [--only B1,B3,...])");
                }
            }
            return quick
                    ? new Settings(SyntheticModel.Shape.TINY, work.resolve("tiny"), 32, 8, 16, 16, 1, threads, device,
                    dtype, json, only)
                    : new Settings(shape, work.resolve(shape == Shape.SMOLLM_135M ? "smollm" : shape.name()), 32, 16, 32,
                    64, 3, threads, device, dtype, json, only);
        }
    }

    Benchmark(Settings s) {
        this.s = s;
    }

    public static void main(String[] args) throws Exception {
        NativeMemory.configure();
        Benchmark b = new Benchmark(Settings.parse(args));
        b.run();
        b.print();
        System.exit(0);
    }

    /** Runs every measurement; returns the results by key. */
    Map<String, Object> run() throws IOException, InterruptedException {
        Path modelDir = s.work().toAbsolutePath().resolve("model");
        Path adapterDir = s.work().toAbsolutePath().resolve("adapters");
        prepare(modelDir, adapterDir);
        results.put("machine", machine());
        results.put("shape", s.shape().name());
        try (ModelRuntime rt = ModelRuntime.load(modelDir, "bench", settings(s, List.of(adapterDir)).build())) {
            EngineDriver driver = new EngineDriver(rt);
            for (int i = 0; i < s.adapters(); i++) {
                rt.registry().load("a" + i, adapterDir.resolve("a" + i), false);
            }
            driver.runTogether(jobs(32, i -> "a" + (i % 8), 4));  // warm-up
            if (s.only().contains("B1") || s.only().contains("B7")) {
                multiAdapterVsBase(driver);
            }
            if (s.only().contains("B2")) {
                batchedVsSequential(driver);
            }
            if (s.only().contains("B3")) {
                pinnedVsBase(rt, driver);
            }
            if (s.only().contains("B4")) {
                hotLoad(rt, driver, adapterDir);
            }
            if (s.only().contains("B7")) {
                gemmEfficiency();
            }
            if (s.only().contains("B8")) {
                weightBandwidth(driver);
            }
            if (s.only().contains("B9")) {
                sampledVsGreedy(driver, s.shape());
            }
            if (s.only().contains("B13")) {
                constrainedVsFree(driver);
            }
        }
        if (s.only().contains("B6")) {
            Path work = s.work().toAbsolutePath();
            new AdapterScale(s.shape(), work, s.shape() == SyntheticModel.Shape.TINY, s.promptTokens(), s.decodeTokens(),
                    cap -> settings(s).maxAdapters(16).maxLoraRank(16).maxCpuAdapterBytes(cap)
                            .adapterRoots(List.of(AdapterScale.root(work))).build(), this::ratio).run(modelDir);
        }
        if (s.only().contains("B10") && s.dtype().equals("float32")) {
            versusFloat32(modelDir, "B10", "bfloat16", "none", "bf16");
        }
        if (s.only().contains("B12") && s.dtype().equals("float32")) {
            versusFloat32(modelDir, "B12", "float32", "int8", "int8");
        }
        if (s.only().contains("B11")) {
            opsAndSyncs(modelDir, adapterDir);
        }
        if (s.only().contains("B14")) {
            new PrefixBenchmark(s, s.shape() == Shape.TINY ? PrefixBenchmark.Sizes.QUICK : PrefixBenchmark.Sizes.FULL,
                    s.shape().vocab(), this::ratio).run(modelDir, adapterDir);
        }
        if (s.only().contains("B9")) {
            Shape large = s.shape().withVocab(LLAMA3_VOCAB);
            Path largeDir = s.work().toAbsolutePath().resolveSibling(large.name()).resolve("model");
            prepareModel(largeDir, large);
            try (ModelRuntime rt = ModelRuntime.load(largeDir, "bench", settings(s, List.of()).build())) {
                EngineDriver driver = new EngineDriver(rt);
                driver.runTogether(jobs(16, i -> null, 4));  // warm-up
                sampledVsGreedy(driver, large);
            }
        }
        return results;
    }

    /** Llama 3's vocabulary, the largest common one, where sampling costs most. */
    private static final int LLAMA3_VOCAB = 128_256;

    /**
     * The benchmarks' runtime on {@code s}'s device, dtype and threads: 32 sequences of up to 256 tokens, 2048 tokens
     * a step, a queue and a watchdog no run reaches, no request timeout.
     */
    static RuntimeSettings.Builder settings(Settings s) {
        return RuntimeSettings.builder().device(s.device()).dtype(s.dtype()).threads(s.threads())
                .maxModelLen(256).maxNumSeqs(32).maxBatchedTokens(2048).maxQueued(10_000)
                .requestTimeout(Duration.ZERO).stepWatchdog(Duration.ofMinutes(5));
    }

    /** {@link #settings(Settings)} with {@code s}'s adapter count and rank as the device slots, 8 GiB of host tier. */
    private static RuntimeSettings.Builder settings(Settings s, List<Path> adapterRoots) {
        return settings(s).maxAdapters(s.adapters()).maxLoraRank(s.rank()).maxCpuAdapterBytes(8L << 30)
                .adapterRoots(adapterRoots);
    }

    private void prepare(Path modelDir, Path adapterDir) throws IOException {
        prepareModel(modelDir, s.shape());
        for (int i = 0; i < s.adapters(); i++) {
            Path dir = adapterDir.resolve("a" + i);
            if (!Files.exists(dir.resolve("adapter_model.safetensors"))) {
                SyntheticModel.writeAdapter(dir, s.shape(), s.rank(), 1000 + i);
            }
        }
    }

    private static void prepareModel(Path modelDir, Shape shape) throws IOException {
        if (!Files.exists(modelDir.resolve("model.safetensors"))) {
            progress("generating " + shape.name() + " model in " + modelDir);
            SyntheticModel.writeModel(modelDir, shape, 42);
        }
    }

    private List<EngineDriver.Job> jobs(int n, java.util.function.IntFunction<String> adapter, int decodeTokens) {
        return jobs(n, adapter, decodeTokens, SamplingParams.GREEDY, s.shape());
    }

    private List<EngineDriver.Job> jobs(int n, java.util.function.IntFunction<String> adapter, int decodeTokens,
                                        SamplingParams sampling, Shape shape) {
        SplittableRandom rng = new SplittableRandom(7);
        List<EngineDriver.Job> jobs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int[] prompt = new int[s.promptTokens()];
            prompt[0] = 1;
            for (int k = 1; k < prompt.length; k++) {
                prompt[k] = 3 + rng.nextInt(shape.vocab() - 3);
            }
            jobs.add(new EngineDriver.Job(adapter.apply(i), prompt, decodeTokens, sampling, null));
        }
        return jobs;
    }

    /** B1: 32 concurrent requests over 8 adapters vs the same 32 on the base, interleaved, best of N each. */
    private void multiAdapterVsBase(EngineDriver d) throws InterruptedException {
        double base = 0;
        double multi = 0;
        for (int r = 0; r < s.repeats(); r++) {
            base = Math.max(base,
                    EngineDriver.decodeTokensPerSecond(d.runTogether(jobs(32, i -> null, s.decodeTokens()))));
            multi = Math.max(multi, EngineDriver.decodeTokensPerSecond(
                    d.runTogether(jobs(32, i -> "a" + (i % 8), s.decodeTokens()))));
        }
        results.put("base_decode_tokens_per_s", round(base));
        results.put("multi_adapter_decode_tokens_per_s", round(multi));
        double msPerLayer = 32 * 1e3 / base / s.shape().layers();
        ratio("B1", "base_decode_ms_per_layer", msPerLayer, "-", "decode step time at 32 base sequences over the "
                + s.shape().layers() + " layers (the LM head, sampling and scheduling counted in)");
        ratio("B1", "multi_adapter_vs_base", multi / base, ">= 0.90",
                "decode tok/s, 32 requests over 8 adapters / same on base (" + fmt(multi) + " / " + fmt(base) + ")");
    }

    /** B2: 32 requests on 32 adapters in one continuous batch vs adapter by adapter. */
    private void batchedVsSequential(EngineDriver d) throws InterruptedException {
        List<EngineDriver.Job> jobs = jobs(32, i -> "a" + i, s.decodeTokens());
        double batched = EngineDriver.endToEndTokensPerSecond(d.runTogether(jobs));
        double sequential = EngineDriver.endToEndTokensPerSecond(d.runOneByOne(jobs));
        ratio("B2", "batched_vs_sequential", batched / sequential, ">= 4",
                "tok/s, 32 adapters in one batch / one adapter at a time (" + fmt(batched) + " / "
                        + fmt(sequential) + ")");
    }

    /** B3: one stream on a pinned (merged) adapter vs one stream on the base. */
    private void pinnedVsBase(ModelRuntime rt, EngineDriver d) throws InterruptedException {
        rt.pin("a0");
        double base = 0;
        double pinned = 0;
        for (int r = 0; r < s.repeats(); r++) {
            base = Math.max(base, 1e9 / d.runTogether(jobs(1, i -> null, s.decodeTokens())).get(0).tpotNanos());
            pinned = Math.max(pinned, 1e9 / d.runTogether(jobs(1, i -> "a0", s.decodeTokens())).get(0).tpotNanos());
        }
        rt.unpin("a0");
        ratio("B3", "pinned_vs_base", pinned / base, ">= 0.98",
                "single-stream tok/s, pinned adapter / base (" + fmt(pinned) + " / " + fmt(base) + ")");
    }

    /** B4: disk-to-ready load throughput, and the TPOT of 8 running streams while 20 adapters load. */
    private void hotLoad(ModelRuntime rt, EngineDriver d, Path adapterDir) throws InterruptedException {
        int streamTokens = s.decodeTokens() * 4;
        double quiet = meanTpot(d.runTogether(jobs(8, i -> "a" + i, streamTokens)));
        List<EngineDriver.Trace> streams = jobs(8, i -> "a" + i, streamTokens).stream().map(d::submit).toList();
        long bytes = 0;
        double seconds = 0;
        long loadStart = 0;
        long loadEnd = 0;
        for (EngineDriver.Trace t : streams) {
            while (t.tokens.isEmpty()) {
                Thread.sleep(1);
            }
        }
        loadStart = System.nanoTime();
        for (int i = 0; i < 20; i++) {
            Path dir = adapterDir.resolve("a" + (i % s.adapters()));
            Adapter a = rt.registry().load("hot" + i, dir, false);
            bytes += fileBytes(dir);
            seconds += a.loadSeconds();
        }
        loadEnd = System.nanoTime();
        for (EngineDriver.Trace t : streams) {
            EngineDriver.await(t);
        }
        double during = meanTpotBetween(streams, loadStart, loadEnd);
        for (int i = 0; i < 20; i++) {
            rt.registry().unload("hot" + i);
        }
        double mbPerS = bytes / 1e6 / seconds;
        results.put("B4_load_mb_per_s", round(mbPerS));
        row(String.format(Locale.ROOT, "%-3s %-26s %10.1f  goal %-8s %s", "B4", "hot_load_mb_per_s", mbPerS,
                ">= 1000", "adapter load throughput, disk to ready (" + bytes / 20 / 1_000_000 + " MB each)"));
        ratio("B4", "hot_load_tpot_rise", during / quiet - 1, "< 0.10",
                "TPOT rise of 8 streams while 20 adapters load (" + fmt(during / 1e6) + " ms vs " + fmt(quiet / 1e6)
                        + " ms)");
    }

    /** B7: achieved decode FLOP/s of the base run over a libtorch matmul peak measured now. */
    @SuppressWarnings("try")  // the PointerScope owns the temporaries; the body need not name it
    private void gemmEfficiency() {
        double baseTokensPerS = (Double) results.get("base_decode_tokens_per_s");
        double achieved = 2.0 * s.shape().matmulParams() * baseTokensPerS;
        double peak = 0;
        int n = 2048;
        try (PointerScope scope = new PointerScope()) {
            Tensor a = torch.randn(n, n);
            Tensor b = torch.randn(n, n);
            a.mm(b);
            for (int i = 0; i < 3; i++) {
                long t0 = System.nanoTime();
                a.mm(b);
                peak = Math.max(peak, 2.0 * n * n * n / ((System.nanoTime() - t0) / 1e9));
            }
        }
        results.put("decode_gflops", round(achieved / 1e9));
        results.put("matmul_peak_gflops", round(peak / 1e9));
        ratio("B7", "gemm_efficiency", achieved / peak, ">= 0.5",
                "decode GFLOP/s / " + n + "^3 matmul GFLOP/s (" + fmt(achieved / 1e9) + " / " + fmt(peak / 1e9) + ")");
    }

    /**
     * B8: weight bytes a decode step reads (every layer matrix and the LM head) over the step time,
     * for one sequence and for 16 decoding together, as a fraction of this machine's read bandwidth
     * measured now ({@link MemoryProbe}).
     */
    private void weightBandwidth(EngineDriver d) throws InterruptedException {
        double probe = MemoryProbe.bytesPerSecond(s.threads(), 5);
        double stepBytes = (s.dtype().equals("float32") ? 4.0 : 2.0) * s.shape().matmulParams();
        double single = 0;
        double sixteen = 0;
        for (int r = 0; r < s.repeats(); r++) {
            single = Math.max(single, 1e9 / d.runTogether(jobs(1, i -> null, s.decodeTokens())).get(0).tpotNanos());
            sixteen = Math.max(sixteen,
                    EngineDriver.decodeTokensPerSecond(d.runTogether(jobs(16, i -> null, s.decodeTokens()))));
        }
        double oneRow = stepBytes * single;
        double sixteenRows = stepBytes * sixteen / 16;
        results.put("memory_probe_gb_per_s", round(probe / 1e9));
        results.put("weight_gb_per_s_1_row", round(oneRow / 1e9));
        results.put("weight_gb_per_s_16_rows", round(sixteenRows / 1e9));
        row(String.format(Locale.ROOT, "%-3s %-26s %10.1f  goal %-8s %s", "B8", "memory_probe_gb_per_s",
                probe / 1e9, "-", "read bandwidth of this machine, " + s.threads() + " threads, Vector API sum"));
        ratio("B8", "weight_bandwidth_1_row", oneRow / probe, ">= 0.60", "weight GB/s of one decoding sequence / probe ("
                + fmt(oneRow / 1e9) + " GB/s: " + fmt(stepBytes / 1e6) + " MB a step at " + fmt(single) + " tok/s)");
        ratio("B8", "weight_bandwidth_16_rows", sixteenRows / probe, "-", "weight GB/s of 16 decoding together / probe ("
                + fmt(sixteenRows / 1e9) + " GB/s at " + fmt(sixteen) + " tok/s; compute-bound)");
    }

    /**
     * B10 / B12: decode tok/s of the same base model loaded with bfloat16 weights (B10) or quantized
     * to int8 (B12) over float32, at 1, 4 and 16 sequences decoding together, the two runtimes side
     * by side in this process and their repetitions interleaved: whether the smaller weights are at
     * least as fast at every batch size.
     */
    private void versusFloat32(Path modelDir, String id, String dtype, String quantization, String what)
            throws InterruptedException {
        try (ModelRuntime f32 = ModelRuntime.load(modelDir, "bench", settings(s, List.of()).dtype("float32").build());
             ModelRuntime other = ModelRuntime.load(modelDir, "bench",
                     settings(s, List.of()).dtype(dtype).quantization(quantization).build())) {
            EngineDriver full = new EngineDriver(f32);
            EngineDriver small = new EngineDriver(other);
            for (int rows : new int[] {1, 4, 16}) {
                double a = 0;
                double b = 0;
                small.runTogether(jobs(rows, i -> null, 4));  // warm-up
                for (int r = 0; r < s.repeats(); r++) {
                    a = Math.max(a, EngineDriver.decodeTokensPerSecond(full.runTogether(jobs(rows, i -> null,
                            s.decodeTokens()))));
                    b = Math.max(b, EngineDriver.decodeTokensPerSecond(small.runTogether(jobs(rows, i -> null,
                            s.decodeTokens()))));
                }
                ratio(id, what + "_vs_f32_" + rows + "_rows", b / a, ">= 1.0", "decode tok/s of " + rows
                        + " on " + (quantization.equals("none") ? dtype : quantization) + " weights / on float32 ("
                        + fmt(b) + " / " + fmt(a) + ")");
            }
        }
    }

    /**
     * B9: decode tok/s of 16 requests sampling with temperature 0.8, top-p 0.95, top-k 50 over the
     * same 16 decoding greedily, on a model of {@code shape}'s vocabulary.
     */
    private void sampledVsGreedy(EngineDriver d, Shape shape) throws InterruptedException {
        SamplingParams sampled = SamplingParams.GREEDY.withTemperature(0.8).withTopP(0.95).withTopK(50).withSeed(7L);
        double greedy = 0;
        double drawn = 0;
        for (int r = 0; r < s.repeats(); r++) {
            greedy = Math.max(greedy, EngineDriver.decodeTokensPerSecond(
                    d.runTogether(jobs(16, i -> null, s.decodeTokens(), SamplingParams.GREEDY, shape))));
            drawn = Math.max(drawn, EngineDriver.decodeTokensPerSecond(
                    d.runTogether(jobs(16, i -> null, s.decodeTokens(), sampled, shape))));
        }
        ratio("B9", "sampled_vs_greedy_v" + shape.vocab(), drawn / greedy, ">= 0.95",
                "decode tok/s of 16, temperature 0.8 top-p 0.95 top-k 50 / greedy, vocab " + shape.vocab() + " ("
                        + fmt(drawn) + " / " + fmt(greedy) + ")");
    }

    /**
     * B11: native (libtorch) ops and host syncs per decode step of 32 sequences over 0 (the base), 1, 8
     * and 32 adapters, on the libtorch forward (what CUDA runs), under the CPU policy (per-segment
     * bypass below 32 segments, logits copied to the host and sampled there) and the GPU policy
     * ({@code --gpu-policy on}: bypass batched, sampling on the device). LoRA ops a layer are the ops
     * over the base's, per layer. Counts, not times: the same on any machine.
     */
    private void opsAndSyncs(Path modelDir, Path adapterDir) throws InterruptedException {
        int layers = s.shape().layers();
        for (String policy : List.of("off", "on")) {
            String name = policy.equals("on") ? "gpu" : "cpu";
            try (ModelRuntime rt = ModelRuntime.load(modelDir, "bench",
                    settings(s, List.of(adapterDir)).kernels("torch").gpuPolicy(policy).build())) {
                EngineDriver d = new EngineDriver(rt);
                for (int i = 0; i < s.adapters(); i++) {
                    rt.registry().load("a" + i, adapterDir.resolve("a" + i), false);
                }
                StepCounts base = null;
                double[] lora = new double[3];
                int k = 0;
                for (int adapters : new int[] {0, 1, 8, 32}) {
                    StepCounts c = d.countDecodeSteps(jobs(32, i -> adapters == 0 ? null : "a" + (i % adapters), 16),
                            4);
                    base = adapters == 0 ? c : base;
                    double perLayer = (c.opsPerStep() - base.opsPerStep()) / layers;
                    double kernelsPerLayer = (c.kernelOpsPerStep() - base.kernelOpsPerStep()) / layers;
                    if (adapters > 0) {
                        lora[k++] = perLayer;
                    }
                    String key = "B11_" + name + "_" + adapters + "_adapters";
                    results.put(key + "_ops_per_step", round(c.opsPerStep()));
                    results.put(key + "_kernel_ops_per_step", round(c.kernelOpsPerStep()));
                    results.put(key + "_lora_ops_per_layer", round(perLayer));
                    results.put(key + "_lora_kernel_ops_per_layer", round(kernelsPerLayer));
                    results.put(key + "_syncs_per_step", round(c.syncsPerStep()));
                    results.put(key + "_sync_bytes_per_step", round(c.syncBytesPerStep()));
                    row(String.format(Locale.ROOT, "%-3s %-26s %10.1f  goal %-8s %s", "B11",
                            name + "_ops_" + adapters + "_adapters", c.opsPerStep(), "-", "native ops a decode step, 32"
                                    + " sequences over " + adapters + " adapters, " + name.toUpperCase(Locale.ROOT)
                                    + " policy (" + fmt(c.kernelOpsPerStep()) + " not views; LoRA " + fmt(perLayer)
                                    + " a layer, " + fmt(kernelsPerLayer) + " not views; " + fmt(c.syncsPerStep())
                                    + " host syncs moving " + Math.round(c.syncBytesPerStep()) + " B)"));
                }
                if (policy.equals("on")) {
                    ratio("B11", "gpu_lora_ops_32_vs_1", lora[2] / lora[0], "= 1", "LoRA ops a layer, 32 adapters / 1,"
                            + " GPU policy (" + fmt(lora[2]) + " / " + fmt(lora[0]) + ")");
                }
            }
        }
    }

    /**
     * The JSON schema B13 constrains to: a list of at least 16 small records (at least 40 bytes each), so no
     * output can be complete, and end, within the 64-token budget: all 32 requests decode to the end, as the
     * unconstrained ones do, and the two runs compare the same batch sizes.
     */
    static final String B13_SCHEMA = "{\"type\":\"array\",\"minItems\":16,\"items\":{\"type\":\"object\",\"properties\":{"
            + "\"id\":{\"type\":\"integer\"},\"name\":{\"type\":\"string\",\"maxLength\":12},"
            + "\"tag\":{\"enum\":[\"red\",\"green\",\"blue\"]},\"ok\":{\"type\":\"boolean\"}},"
            + "\"required\":[\"id\",\"name\",\"tag\",\"ok\"]}}";

    /**
     * B13: decode tok/s of 32 greedy requests over 8 adapters whose output must match
     * {@link #B13_SCHEMA} over the same 32 unconstrained, interleaved, best of N each, both counted
     * while all 32 run (a constrained output may complete, and end, before its token budget). The synthetic
     * model has no tokenizer, so the constraint runs over {@link SyntheticModel#vocabulary}, one of the
     * model's size. The compile time of the schema is reported beside it; one constrained warm-up run
     * comes first, as every line has one (a server keeps a schema's memo across its requests).
     */
    private void constrainedVsFree(EngineDriver d) throws InterruptedException {
        ConstraintCache cache = new ConstraintCache(SyntheticModel.vocabulary(s.shape().vocab()), 4);
        Constraint schema = cache.get(ConstraintSpec.jsonSchema(
                jakarta.json.Json.createReader(new java.io.StringReader(B13_SCHEMA)).readValue()));
        results.put("constraint_compile_ms", round(schema.compileNanos() / 1e6));
        double free = 0;
        double constrained = 0;
        long tokens = 0;
        d.runTogether(constrainedJobs(schema));  // warm-up: the schema's states and masks are memoised, as in a server
        for (int r = 0; r < s.repeats(); r++) {
            free = Math.max(free, EngineDriver.decodeTokensPerSecondWhileAllRun(
                    d.runTogether(jobs(32, i -> "a" + (i % 8), s.decodeTokens()))));
            List<EngineDriver.Trace> traces = d.runTogether(constrainedJobs(schema));
            tokens = traces.stream().mapToLong(t -> t.tokens.size()).sum();
            constrained = Math.max(constrained, EngineDriver.decodeTokensPerSecondWhileAllRun(traces));
        }
        results.put("constrained_tokens_per_request", round((double) tokens / 32));
        ratio("B13", "constrained_vs_unconstrained", constrained / free, ">= 0.90",
                "decode tok/s, 32 requests over 8 adapters under a JSON schema / unconstrained (" + fmt(constrained)
                        + " / " + fmt(free) + "; schema compiled in " + fmt(schema.compileNanos() / 1e6) + " ms, "
                        + fmt((double) tokens / 32) + " tokens per constrained request)");
    }

    private List<EngineDriver.Job> constrainedJobs(Constraint schema) {
        return jobs(32, i -> "a" + (i % 8), s.decodeTokens()).stream()
                .map(j -> new EngineDriver.Job(j.adapter(), j.prompt(), j.maxTokens(), j.sampling(), schema)).toList();
    }

    private static double meanTpot(List<EngineDriver.Trace> traces) {
        return traces.stream().mapToDouble(EngineDriver.Trace::tpotNanos).average().orElseThrow();
    }

    /** Mean gap between consecutive tokens that arrived inside [from, to]. */
    private static double meanTpotBetween(List<EngineDriver.Trace> traces, long from, long to) {
        double sum = 0;
        int n = 0;
        for (EngineDriver.Trace t : traces) {
            for (int i = 1; i < t.tokens.size(); i++) {
                if (t.tokens.get(i - 1) >= from && t.tokens.get(i) <= to) {
                    sum += t.tokens.get(i) - t.tokens.get(i - 1);
                    n++;
                }
            }
        }
        return n == 0 ? Double.NaN : sum / n;
    }

    private static long fileBytes(Path dir) {
        try {
            return Files.size(dir.resolve("adapter_model.safetensors"));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private void ratio(String id, String name, double value, String goal, String what) {
        results.put(id + "_" + name, round(value));
        row(String.format(Locale.ROOT, "%-3s %-26s %10.3f  goal %-8s %s", id, name, value, goal, what));
    }

    private Map<String, Object> machine() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("cores", Runtime.getRuntime().availableProcessors());
        m.put("torch_threads", s.threads());
        m.put("device", s.device());
        m.put("dtype", s.dtype());
        m.put("os_arch", System.getProperty("os.arch"));
        m.put("java", Runtime.version().toString());
        return m;
    }

    /** A line of the table, also shown on stderr as soon as it is measured (long runs show figures as they come). */
    private void row(String line) {
        table.add(line);
        progress(line);
    }

    private void print() {
        System.out.println("loraserve benchmark: " + s.shape().name() + ", " + s.adapters() + " adapters r" + s.rank()
                + ", prompt " + s.promptTokens() + " + " + s.decodeTokens() + " tokens; machine "
                + results.get("machine"));
        table.forEach(System.out::println);
        if (s.json()) {
            System.out.println(Json.of(results));
        }
    }

    private static void progress(String message) {
        System.err.println("bench: " + message);
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

    private static String fmt(double v) {
        return String.format(Locale.ROOT, "%.1f", v);
    }
}
