package io.loraserve.metrics;

import java.time.Duration;
import java.util.List;

/**
 * Every metric loraserve exports: its name, help text, labels and histogram buckets. Nothing else
 * in the code spells a metric name.
 *
 * <p>Micrometer names are dotted; Prometheus sees them in snake case with the unit and type
 * suffixes Micrometer adds ({@code loraserve.requests} → {@code loraserve_requests_total},
 * {@code loraserve.time.to.first.token} → {@code loraserve_time_to_first_token_seconds_bucket}).
 * The {@code vllm:} names are exported verbatim by {@link VllmCollector}.
 */
public final class MetricNames {
    private MetricNames() {
    }

    /** One metric: its Micrometer name and its help text. */
    public record Def(String name, String help) {
    }

    // Labels and their fixed values.
    public static final String ADAPTER = "adapter";
    public static final String STATUS = "status";
    public static final String TIER = "tier";
    /** The {@code adapter} label of requests to the base model. */
    public static final String BASE = "base";
    /** The {@code adapter} label shared by adapters beyond the label cap. */
    public static final String OTHER = "other";
    public static final String OK = "ok";
    public static final String ERROR = "error";
    public static final String CANCELLED = "cancelled";
    public static final String REJECTED = "rejected";
    public static final List<String> STATUSES = List.of(OK, ERROR, CANCELLED, REJECTED);
    /** Where an adapter's weights live: device slots, host memory, or only its directory (host copy dropped). */
    public static final List<String> TIERS = List.of("device", "host", "disk");
    /** The tiers that hold copies and count hits, misses and evictions. */
    public static final List<String> CACHE_TIERS = List.of("device", "host");

    // Per adapter (label adapter).
    public static final Def REQUESTS = new Def("loraserve.requests",
            "Requests that reached the engine, by final status: ok (stop or length), error (engine failure or "
                    + "timeout), cancelled (client went away or shutdown), rejected (queue full or draining)");
    public static final Def PROMPT_TOKENS = new Def("loraserve.prompt.tokens",
            "Prompt tokens of ended requests (ok, cancelled or timed out)");
    public static final Def GENERATION_TOKENS = new Def("loraserve.generation.tokens",
            "Generated tokens of ended requests (ok, cancelled or timed out)");
    public static final Def TIME_TO_FIRST_TOKEN = new Def("loraserve.time.to.first.token",
            "Time from submission to the first sampled token");
    public static final Def TIME_PER_OUTPUT_TOKEN = new Def("loraserve.time.per.output.token",
            "Mean time between output tokens after the first, per successful request with two or more tokens");
    public static final Def E2E_LATENCY = new Def("loraserve.e2e.request.latency",
            "Time from submission to the last token, per successful request");
    public static final Def REQUESTS_RUNNING = new Def("loraserve.requests.running",
            "Sequences in the running batch");
    public static final Def REQUESTS_WAITING = new Def("loraserve.requests.waiting",
            "Sequences waiting for admission (including preempted ones)");
    public static final Def ADAPTER_LOADED = new Def("loraserve.adapter.loaded",
            "1 while the adapter is loaded (for the label other: how many of its adapters are)");
    public static final Def ADAPTER_PINNED = new Def("loraserve.adapter.pinned",
            "1 while the adapter is pinned and served from merged weights (for the label other: how many are)");
    public static final Def ADAPTER_TIER = new Def("loraserve.adapter.tier",
            "1 for the tier the adapter's weights are in, 0 for the others (for the label other: how many are in each)");
    public static final Def ADAPTER_BYTES = new Def("loraserve.adapter.size",
            "Bytes of the adapter's loaded weights (for the label other: their sum)");
    public static final Def ADAPTER_LAST_LOAD = new Def("loraserve.adapter.last.load",
            "Duration of the adapter's most recent load (for the label other: the longest among them)");

    // Adapter tiers (label tier: device or host).
    public static final Def TIER_HITS = new Def("loraserve.adapter.tier.hits",
            "Requests (device: sequences admitted) that found their adapter in the tier");
    public static final Def TIER_MISSES = new Def("loraserve.adapter.tier.misses",
            "Requests (device: sequences admitted) that did not find their adapter in the tier; it was filled from"
                    + " the tier below (host: read from disk, first use included; device: uploaded from the host copy)");
    public static final Def TIER_EVICTIONS = new Def("loraserve.adapter.tier.evictions",
            "Idle adapters dropped from the tier to make room for another");
    public static final Def TIER_FILL = new Def("loraserve.adapter.tier.fill",
            "Time to fill the tier on a miss: host = disk read and validation (waiting for the loader included),"
                    + " device = upload into a slot");
    public static final Def HOST_BYTES = new Def("loraserve.adapter.host.bytes",
            "Bytes of the adapters' host copies held now (replaced versions still running included)");
    public static final Def HOST_CAPACITY = new Def("loraserve.adapter.host.capacity",
            "--max-cpu-adapter-bytes: the most the host copies may hold");

    // Engine.
    public static final Def ADAPTER_LOAD_DURATION = new Def("loraserve.adapter.load.duration",
            "Adapter loads (disk to host tensors), all adapters");
    public static final Def BATCH_SIZE = new Def("loraserve.engine.batch.size", "Sequences per engine step");
    public static final Def BATCH_TOKENS = new Def("loraserve.engine.batch.tokens", "Tokens computed per engine step");
    public static final Def STEP = new Def("loraserve.engine.step", "Duration of one engine step (forward and sampling)");
    public static final Def ENGINE_RUNNING = new Def("loraserve.engine.requests.running", "Sequences running, all adapters");
    public static final Def ENGINE_WAITING = new Def("loraserve.engine.requests.waiting",
            "Requests queued for the engine, all adapters (the queue length)");
    public static final Def KV_BLOCKS_USED = new Def("loraserve.engine.kv.blocks.used",
            "KV cache blocks held by requests (idle blocks the prefix cache keeps count as free)");
    public static final Def KV_BLOCKS_CAPACITY = new Def("loraserve.engine.kv.blocks.capacity", "KV cache blocks in the pool");
    public static final Def KV_BLOCKS_CACHED = new Def("loraserve.engine.kv.blocks.cached",
            "KV cache blocks the prefix cache keeps by content (held by requests or idle; idle ones are reused when the pool needs them)");
    public static final Def PREFIX_CACHE_QUERIES = new Def("loraserve.engine.prefix.cache.queries",
            "Prompt tokens looked up in the prefix cache when a request was admitted (requests scoring their prompt skip it)");
    public static final Def PREFIX_CACHE_HITS = new Def("loraserve.engine.prefix.cache.hits",
            "Of the prompt tokens looked up in the prefix cache, those found there (not computed again)");
    public static final Def PREEMPTIONS = new Def("loraserve.engine.preemptions",
            "Sequences preempted (KV blocks freed, recomputed later) because the KV pool ran dry");
    public static final Def DEVICE_FAULT = new Def("loraserve.engine.device.fault",
            "1 once the device failed for good (a CUDA error corrupts its context): restart the process; else 0");
    public static final Def GENERATED_TOKENS = new Def("loraserve.engine.generated.tokens", "Tokens sampled, all adapters");
    public static final Def TOKENS_PER_SECOND = new Def("loraserve.engine.generation.tokens.per.second",
            "Tokens sampled per second over the last " + TokenRate.WINDOW.toSeconds() + " seconds");

    // Process.
    public static final Def NATIVE_PHYSICAL = new Def("loraserve.native.physical",
            "Resident memory of the process as JavaCPP measures it (Pointer.physicalBytes): heap, native tensors, code");

    public static final Def DEVICE_MEMORY = new Def("loraserve.device.memory",
            "CUDA device memory from libtorch's caching allocator: kind=allocated (live tensors) or reserved"
                    + " (held from the driver); only when serving on CUDA");
    public static final String KIND = "kind";

    // vLLM-compatible, exported verbatim for the Gateway API Inference Extension's endpoint picker.
    public static final String VLLM_MODEL_NAME = "model_name";
    public static final Def VLLM_WAITING = new Def("vllm:num_requests_waiting", "Number of requests waiting to be processed");
    public static final Def VLLM_RUNNING = new Def("vllm:num_requests_running", "Number of requests in the running batch");
    public static final Def VLLM_KV_USAGE = new Def("vllm:kv_cache_usage_perc", "KV cache usage, 0 to 1 (1 = full)");
    public static final Def VLLM_PREFIX_QUERIES = new Def("vllm:prefix_cache_queries",
            "Prefix cache queries, in terms of number of queried tokens");
    public static final Def VLLM_PREFIX_HITS = new Def("vllm:prefix_cache_hits",
            "Prefix cache hits, in terms of number of cached tokens");
    public static final Def VLLM_LORA_INFO = new Def("vllm:lora_requests_info",
            "Running and waiting LoRA adapters (comma-separated) and max_lora; the value is the Unix time of the scrape");
    public static final String VLLM_RUNNING_ADAPTERS = "running_lora_adapters";
    public static final String VLLM_WAITING_ADAPTERS = "waiting_lora_adapters";
    public static final String VLLM_MAX_LORA = "max_lora";
    public static final Def VLLM_CACHE_CONFIG = new Def("vllm:cache_config_info",
            "Information of the KV cache config: block_size (tokens per block) and num_gpu_blocks (blocks in the pool,"
                    + " on whatever device serves); the value is 1");
    public static final String VLLM_BLOCK_SIZE = "block_size";
    public static final String VLLM_NUM_GPU_BLOCKS = "num_gpu_blocks";

    // Buckets. Latencies span a tiny CPU model (milliseconds) to a large GPU model under load (minutes).
    public static final List<Duration> TTFT_BUCKETS = millis(1, 5, 10, 20, 40, 60, 80, 100, 250, 500, 750, 1_000,
            2_500, 5_000, 7_500, 10_000, 20_000, 40_000, 80_000, 160_000, 640_000);
    public static final List<Duration> TPOT_BUCKETS = millis(1, 2.5, 5, 7.5, 10, 25, 50, 75, 100, 150, 200, 300, 400,
            500, 750, 1_000, 2_500, 5_000, 10_000, 20_000);
    public static final List<Duration> E2E_BUCKETS = millis(10, 50, 100, 300, 500, 800, 1_000, 1_500, 2_000, 2_500,
            5_000, 10_000, 15_000, 20_000, 30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000);
    public static final List<Duration> STEP_BUCKETS = millis(1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500,
            5_000, 10_000, 30_000);
    public static final List<Duration> TIER_FILL_BUCKETS = millis(0.1, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500,
            1_000, 2_500, 10_000);
    public static final List<Duration> ADAPTER_LOAD_BUCKETS = millis(10, 50, 100, 250, 500, 1_000, 2_500, 5_000,
            10_000, 30_000, 60_000);
    public static final double[] BATCH_SIZE_BUCKETS = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
    public static final double[] BATCH_TOKEN_BUCKETS = {1, 4, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384};

    private static List<Duration> millis(double... ms) {
        return java.util.Arrays.stream(ms).mapToObj(m -> Duration.ofNanos(Math.round(m * 1_000_000))).toList();
    }
}
