package io.loraserve.config;

import io.loraserve.engine.RuntimeSettings;
import io.loraserve.tools.ToolCallFormat;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every user setting, from (lowest to highest precedence) the defaults below, an {@link OptionSource}
 * (the server's: Helidon config, that is {@code application.yaml} on the class path or in the
 * working directory, then environment variables such as {@code LORASERVE_PORT}, then system
 * properties {@code -Dloraserve.port=…}, each flag's key being {@code loraserve.<flag name>}), and
 * the command line ({@code --port 8000} or {@code --port=8000}).
 * The engine's flags take their defaults from {@link RuntimeSettings.Builder} and are read into
 * {@link RuntimeSettings} by name; the server's own flags fall into {@link Adapters}, {@link Http} and {@link Api}.
 */
public record Options(Path model, String servedModelName, RuntimeSettings engine, Adapters adapters, Http http,
                      Api api) {

    /**
     * The adapters the server starts with and how it keeps them: {@code --adapter}/{@code --lora-modules} in order,
     * {@code --lazy-adapters} and {@code --state-dir} (null = none). The roots are the engine's
     * ({@link RuntimeSettings#lora()}).
     */
    public record Adapters(Map<String, Path> preload, boolean lazy, Path stateDir) {
    }

    /**
     * The two listeners and their connections: {@code --host}, {@code --port}, {@code --admin-port},
     * {@code --max-body-bytes}, {@code --max-connections} (0 = chosen from the open-file limit),
     * {@code --header-timeout}, {@code --idle-timeout}, {@code --shutdown-grace}, and who may call them:
     * {@code --api-key}, {@code --admin-key} (null = open), {@code --allowed-origins}.
     */
    public record Http(String host, int port, int adminPort, long maxBodyBytes, int maxConnections,
                       Duration headerTimeout, Duration idleTimeout, Duration shutdownGrace, String apiKey,
                       String adminKey, List<String> allowedOrigins) {
    }

    /**
     * What the API allows and reports: {@code --max-n}, {@code --tool-call-parser} (null = none),
     * {@code --enable-auto-tool-choice}, {@code --metrics-adapter-labels}.
     */
    public record Api(int maxN, ToolCallFormat toolCallParser, boolean enableAutoToolChoice,
                      int metricsAdapterLabels) {
    }

    /**
     * A flag: its name, value placeholder, default (null = computed) and help; repeatable flags accumulate. A
     * switch (placeholder null) takes no value: {@code --name} sets it, {@code --no-name} clears it
     * ({@code --name=true|false} and {@code loraserve.name: true|false} work too), as vLLM's boolean flags.
     */
    record Flag(String name, String value, String fallback, String help, boolean repeatable) {
        Flag(String name, String value, String fallback, String help) {
            this(name, value, fallback, help, false);
        }

    }

    /** The engine's defaults, which the engine's flags show and fall back to. */
    private static final RuntimeSettings D = RuntimeSettings.defaults();

    static final List<Flag> FLAGS = List.of(
            new Flag("model", "DIR", null, "HuggingFace model directory (default: the embedded demo model)"),
            new Flag("served-model-name", "NAME", null, "model name in the API (default: the directory's name)"),
            new Flag("host", "HOST", "127.0.0.1", "address both listeners bind to"),
            new Flag("port", "PORT", "8000", "public API port (0 = any free port)"),
            new Flag("admin-port", "PORT", "8001", "admin API port (0 = any free port)"),
            new Flag("device", "cpu|cuda|cuda:N", D.model().device(), "where the model runs"),
            new Flag("dtype", "auto|float32|bfloat16|float16", D.model().dtype(), "dtype of the weights; auto = float32 on a CPU, bfloat16 on CUDA (libtorch also computes and keeps the KV cache in it; the java kernels compute in float32)"),
            new Flag("kernels", "auto|java|torch", D.model().kernels(), "who computes the forward: java = Vector API kernels (CPU, float32 or bfloat16 weights), torch = libtorch; auto picks java where it can run"),
            new Flag("quantization", "none|int8", D.model().quantization(), "int8 = weight-only int8 base matrices with a scale per 32 weights (java kernels; a quarter of float32's bytes, not exact: see the README)"),
            new Flag("gpu-policy", "auto|on|off", D.model().gpuPolicy(), "run steps as on a GPU: LoRA bypass batched whatever the adapters, sampling on the device, logits never copied out; auto = on for CUDA; on forces it on a CPU (libtorch kernels) to count its ops"),
            new Flag("gpu-memory-utilization", "FRACTION", String.valueOf(D.cache().gpuMemoryUtilization()), "on CUDA, the share of the device's memory the process may fill: the KV cache gets what the weights, adapter slots and a step's activations leave (ignored on a CPU and with --kv-cache-bytes)"),
            new Flag("max-model-len", "N", null, "prompt + completion tokens per request (default: config's max_position_embeddings)"),
            new Flag("max-num-seqs", "N", String.valueOf(D.scheduler().maxNumSeqs()), "sequences in one batch at most"),
            new Flag("max-num-batched-tokens", "N", String.valueOf(D.scheduler().maxBatchedTokens()), "tokens in one step at most (longer prompts prefill in chunks)"),
            new Flag("kv-block-size", "N", String.valueOf(D.cache().blockSize()), "tokens per KV cache block"),
            new Flag("kv-cache-bytes", "BYTES", null, "KV cache pool size (default: on a CPU room for max-num-seqs full-length sequences, at most 2 GiB; on CUDA what --gpu-memory-utilization leaves)"),
            new Flag("enable-prefix-caching", null, String.valueOf(D.cache().prefixCaching()), "keep the KV of full prompt blocks and reuse it for later"
                    + " requests on the same adapter that start with the same tokens (--no-enable-prefix-caching: off)"),
            new Flag("max-queued-requests", "N", String.valueOf(D.scheduler().maxQueued()), "requests waiting for the engine before new ones get 429"),
            new Flag("request-timeout", "SECONDS", String.valueOf(D.scheduler().requestTimeout().toSeconds()), "a request running longer is ended (0 = no limit)"),
            new Flag("step-watchdog", "SECONDS", String.valueOf(D.scheduler().stepWatchdog().toSeconds()), "/health/ready fails when no engine step completes for this long while work waits"),
            new Flag("max-n", "N", "8", "largest 'n' (choices per prompt) a request may ask for"),
            new Flag("max-body-bytes", "BYTES", "2097152", "largest request body (413 above)"),
            new Flag("max-connections", "N", null, "open connections on the public port at most; a new one over it"
                    + " gets 503 and is closed (default: half the process's open-file limit, at most 10000)"),
            new Flag("header-timeout", "SECONDS", "20", "a connection that has not sent a whole request line and"
                    + " headers this long after it opened (or after its request line) is closed"),
            new Flag("idle-timeout", "SECONDS", "75", "a keep-alive connection idle this long between requests is closed"),
            new Flag("threads", "N", null, "compute threads: libtorch intra-op and java kernel threads (default: available cores)"),
            new Flag("max-adapters", "N", String.valueOf(D.lora().maxAdapters()), "adapters resident on the device at once (device slots)"),
            new Flag("max-lora-rank", "N", String.valueOf(D.lora().maxRank()), "largest adapter rank accepted (sizes the device slots)"),
            new Flag("max-cpu-adapter-bytes", "BYTES", String.valueOf(D.lora().maxHostBytes()), "host memory for registered adapters' weights"),
            new Flag("adapter-root", "DIR", null, "directory adapters may be loaded from; repeatable (default: the"
                    + " project's adapters/). Given, a request naming an adapter that is not loaded but is a"
                    + " directory DIR/<name> loads it on first use", true),
            new Flag("lazy-adapters", null, "true", "with --adapter-root: load an adapter that is not loaded on its"
                    + " first use (--no-lazy-adapters: a request for it gets 404)"),
            new Flag("adapter", "NAME=DIR", null, "adapter to load at start-up; repeatable (default with the demo model: everything in adapters/)", true),
            new Flag("lora-modules", "NAME=DIR...", null, "vLLM's spelling of --adapter: one or more NAME=DIR after"
                    + " it; repeatable", true),
            new Flag("state-dir", "DIR", null, "keep the adapter catalogue (loads, unloads, pins) in DIR, saved before"
                    + " each admin change is answered, restored at start-up; --adapter wins on a name clash"
                    + " (default: none, admin changes are lost on restart)"),
            new Flag("admin-key", "KEY", null, "require 'Authorization: Bearer KEY' on the admin port's API and /metrics (not /health)"),
            new Flag("metrics-adapter-labels", "N", "100",
                    "adapters that get their own 'adapter' label in /metrics; the rest share adapter=\"other\""),
            new Flag("api-key", "KEY", null, "require 'Authorization: Bearer KEY' on the public /v1/ routes"
                    + " (default: none; LORASERVE_API_KEY keeps it out of ps)"),
            new Flag("allowed-origins", "ORIGINS", null, "browser origins (comma-separated, or *) allowed to call the"
                    + " public API cross-origin (default: none)"),
            new Flag("shutdown-grace", "SECONDS", "30", "on SIGTERM, how long running requests may finish before they are cancelled"),
            new Flag("tool-call-parser", ToolCallFormat.flags(), null, "the model's tool-call format: chat requests"
                    + " with tool_choice other than none get their calls parsed out of the output, and required or a"
                    + " named function constrained to it (default: none; such requests get 400)"),
            new Flag("enable-auto-tool-choice", null, "false", "with --tool-call-parser: allow tool_choice auto (the"
                    + " default when tools are given), the model deciding whether to call (as vLLM's flag)"));

    /** Parses {@code args} over {@code configured}; {@code --help} is handled by the caller. */
    public static Options parse(String[] args, OptionSource configured) {
        Map<String, List<String>> values = new LinkedHashMap<>();
        for (Flag f : FLAGS) {
            configured.value(f.name()).ifPresent(v -> values.put(f.name(),
                    f.repeatable() ? new ArrayList<>(List.of(v.split(","))) : new ArrayList<>(List.of(v))));
        }
        java.util.Set<String> fromCommandLine = new java.util.HashSet<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--")) {
                throw new OptionsException("unexpected argument '" + a + "' (flags start with --; see --help)");
            }
            String name = a.substring(2);
            String value = null;
            int eq = name.indexOf('=');
            if (eq >= 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            }
            if (value == null && name.startsWith("no-") && isSwitch(name.substring(3))) {
                name = name.substring(3);
                value = "false";
            }
            String flag = name;
            Flag spec = FLAGS.stream().filter(f -> f.name().equals(flag)).findFirst()
                    .orElseThrow(() -> new OptionsException("unknown flag --" + flag + " (see --help)"));
            if (value == null && spec.value() == null) {
                value = "true";
            } else if (value == null) {
                if (i + 1 >= args.length) {
                    throw new OptionsException("--" + name + " needs a value");
                }
                value = args[++i];
            }
            if (fromCommandLine.add(name) || !spec.repeatable()) {
                values.put(name, new ArrayList<>());
            }
            values.get(name).add(value);
            while (name.equals("lora-modules") && i + 1 < args.length && !args[i + 1].startsWith("--")) {
                values.get(name).add(args[++i]);  // vLLM's form: --lora-modules a=DIR b=DIR
            }
        }
        Reader r = new Reader(values);
        RuntimeSettings engine = RuntimeSettings.builder()
                .device(r.device("device"))
                .dtype(r.choice("dtype", "auto", "float32", "bfloat16", "float16"))
                .kernels(r.choice("kernels", "auto", "java", "torch"))
                .quantization(r.choice("quantization", "none", "int8"))
                .gpuPolicy(r.choice("gpu-policy", "auto", "on", "off"))
                .maxModelLen(r.has("max-model-len") ? r.positive("max-model-len") : 0)
                .threads(r.has("threads") ? r.positive("threads") : D.model().threads())
                .kvBlockSize(r.positive("kv-block-size"))
                .kvCacheBytes(r.has("kv-cache-bytes") ? r.positiveLong("kv-cache-bytes") : 0)
                .prefixCaching(r.bool("enable-prefix-caching"))
                .gpuMemoryUtilization(r.fraction("gpu-memory-utilization"))
                .maxNumSeqs(r.positive("max-num-seqs"))
                .maxBatchedTokens(r.positive("max-num-batched-tokens"))
                .maxQueued(r.positive("max-queued-requests"))
                .requestTimeout(Duration.ofSeconds(r.nonNegative("request-timeout")))
                .stepWatchdog(Duration.ofSeconds(r.positive("step-watchdog")))
                .maxAdapters(r.positive("max-adapters"))
                .maxLoraRank(r.positive("max-lora-rank"))
                .maxCpuAdapterBytes(r.positiveLong("max-cpu-adapter-bytes"))
                .adapterRoots(r.all("adapter-root").stream().map(Path::of).toList())
                .build();
        Adapters adapters = new Adapters(r.adapters(), r.bool("lazy-adapters"),
                r.has("state-dir") ? Path.of(r.nonEmpty("state-dir")) : null);
        Http http = new Http(r.text("host"), r.port("port"), r.port("admin-port"), r.positiveLong("max-body-bytes"),
                r.has("max-connections") ? r.positive("max-connections") : 0,
                Duration.ofSeconds(r.positive("header-timeout")), Duration.ofSeconds(r.positive("idle-timeout")),
                Duration.ofSeconds(r.nonNegative("shutdown-grace")),
                r.has("api-key") ? r.nonEmpty("api-key") : null,
                r.has("admin-key") ? r.text("admin-key") : null,
                r.has("allowed-origins") ? r.origins("allowed-origins") : List.of());
        Api api = new Api(r.positive("max-n"),
                r.has("tool-call-parser") ? ToolCallFormat.of(r.choice("tool-call-parser", ToolCallFormat.flags().split("\\|"))) : null,
                r.bool("enable-auto-tool-choice"), r.nonNegative("metrics-adapter-labels"));
        return new Options(r.has("model") ? Path.of(r.text("model")) : null,
                r.has("served-model-name") ? r.text("served-model-name") : null, engine, adapters, http, api);
    }

    private static boolean isSwitch(String name) {
        return FLAGS.stream().anyMatch(f -> f.name().equals(name) && f.value() == null);
    }

    /** The {@code --help} text. */
    public static String help() {
        List<String> lines = new ArrayList<>();
        lines.add("usage: loraserve [--flag VALUE]...");
        lines.add("");
        for (Flag f : FLAGS) {
            String left = "  --" + f.name() + (f.value() == null ? "" : " " + f.value());
            lines.add(String.format("%-44s %s%s", left, f.help(), f.fallback() == null ? "" : " [" + f.fallback() + "]"));
        }
        lines.add("");
        lines.add("Every flag can also be set as loraserve.<flag> in application.yaml, as an environment variable");
        lines.add("(LORASERVE_<FLAG>, dashes as underscores) or as -Dloraserve.<flag>=VALUE.");
        return String.join(System.lineSeparator(), lines);
    }

    private record Reader(Map<String, List<String>> values) {
        boolean has(String name) {
            return values.containsKey(name);
        }

        List<String> all(String name) {
            return values.getOrDefault(name, List.of());
        }

        /** Comma-separated origins: each {@code *} or {@code scheme://host[:port]}, no path. */
        List<String> origins(String name) {
            List<String> out = new ArrayList<>();
            for (String part : text(name).split(",")) {
                String origin = part.strip();
                if (!origin.equals("*") && !origin.matches("[A-Za-z][A-Za-z0-9+.-]*://[^/?#\\s]+")) {
                    throw new OptionsException("--" + name + ": '" + origin + "' is not * or an origin such as"
                            + " https://ui.example:8080");
                }
                out.add(origin);
            }
            return List.copyOf(out);
        }

        /** {@code --adapter} and its vLLM spelling {@code --lora-modules}, in that order. */
        Map<String, Path> adapters() {
            Map<String, Path> out = new LinkedHashMap<>();
            for (String flag : List.of("adapter", "lora-modules")) {
                for (String spec : all(flag)) {
                    int eq = spec.indexOf('=');
                    if (eq <= 0 || eq == spec.length() - 1) {
                        throw new OptionsException("--" + flag + " must be NAME=DIR, not '" + spec + "'");
                    }
                    out.put(spec.substring(0, eq), Path.of(spec.substring(eq + 1)));
                }
            }
            return out;
        }

        String text(String name) {
            List<String> v = values.get(name);
            if (v != null) {
                return v.get(v.size() - 1);
            }
            return FLAGS.stream().filter(f -> f.name().equals(name)).findFirst().orElseThrow().fallback();
        }

        String nonEmpty(String name) {
            String v = text(name);
            if (v.isBlank()) {
                throw new OptionsException("--" + name + " must not be empty");
            }
            return v;
        }

        String choice(String name, String... allowed) {
            String v = text(name);
            if (!List.of(allowed).contains(v)) {
                throw new OptionsException("--" + name + " must be one of " + String.join(", ", allowed) + ", not '" + v + "'");
            }
            return v;
        }

        /** Only the syntax: whether CUDA is present is checked when the model loads. */
        String device(String name) {
            String v = text(name);
            if (!v.matches("cpu|cuda|cuda:\\d{1,2}")) {
                throw new OptionsException("--" + name + " must be cpu, cuda or cuda:N, not '" + v + "'");
            }
            return v;
        }

        long number(String name, long min) {
            String v = text(name);
            try {
                long n = Long.parseLong(v.trim());
                if (n < min) {
                    throw new OptionsException("--" + name + " must be >= " + min + ", not " + v);
                }
                return n;
            } catch (NumberFormatException e) {
                throw new OptionsException("--" + name + " must be a whole number, not '" + v + "'");
            }
        }

        /** A number in (0, 1]. */
        double fraction(String name) {
            String v = text(name);
            try {
                double f = Double.parseDouble(v.trim());
                if (!(f > 0 && f <= 1)) {
                    throw new OptionsException("--" + name + " must be a fraction in (0, 1], not " + v);
                }
                return f;
            } catch (NumberFormatException e) {
                throw new OptionsException("--" + name + " must be a number in (0, 1], not '" + v + "'");
            }
        }

        boolean bool(String name) {
            String v = text(name).trim();
            if (!v.equals("true") && !v.equals("false")) {
                throw new OptionsException("--" + name + " must be true or false, not '" + v + "'");
            }
            return Boolean.parseBoolean(v);
        }

        int positive(String name) {
            return Math.toIntExact(Math.min(number(name, 1), Integer.MAX_VALUE));
        }

        int nonNegative(String name) {
            return Math.toIntExact(Math.min(number(name, 0), Integer.MAX_VALUE));
        }

        long positiveLong(String name) {
            return number(name, 1);
        }

        int port(String name) {
            long p = number(name, 0);
            if (p > 65535) {
                throw new OptionsException("--" + name + " must be a port number 0..65535, not " + p);
            }
            return (int) p;
        }
    }
}
