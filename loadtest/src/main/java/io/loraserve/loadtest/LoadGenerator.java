package io.loraserve.loadtest;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * An HTTP load generator for loraserve (or any OpenAI-compatible server): open-loop Poisson
 * arrivals at {@code --rate}, or {@code --clients} closed-loop clients; each request picks its
 * adapter from a Zipf distribution over {@code --adapters}. Streams every request, so it measures
 * time to first token (TTFT), time per output token (TPOT) and end-to-end latency; prints
 * progress each second, then a table (and JSON with {@code --json}). Always bounded: it stops
 * after {@code --requests} or {@code --duration}, whichever comes first.
 *
 * <p>A request is ok only when it answers 200 and its stream ends with its usage and no error. Every other request
 * is counted under {@code errors_by_status}: by HTTP status, {@code connection} when no answer came,
 * {@code stream_error:<code>} when a 200 stream carried an error chunk ({@code data: {"error":…}}, as a request that
 * times out or is cancelled mid-stream ends), {@code incomplete_stream} when it ended without its usage.
 */
public final class LoadGenerator {
    /** The flags. */
    record Settings(URI url, double rate, int clients, int requests, Duration duration, List<String> adapters,
                    double zipf, int promptTokens, int maxTokens, int vocab, String apiKey, boolean json, long seed) {

        static Settings parse(String[] args) {
            Map<String, String> v = new LinkedHashMap<>(Map.of("url", "http://127.0.0.1:8000", "rate", "0",
                    "clients", "8", "requests", "100", "duration", "300", "adapters", "", "zipf", "1.0",
                    "prompt-tokens", "32", "max-tokens", "64", "vocab", "2048"));
            v.put("seed", "1");
            boolean json = false;
            String apiKey = null;
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                if (a.equals("--json")) {
                    json = true;
                } else if (a.equals("--api-key") && i + 1 < args.length) {
                    apiKey = args[++i];
                } else if (a.startsWith("--") && v.containsKey(a.substring(2)) && i + 1 < args.length) {
                    v.put(a.substring(2), args[++i]);
                } else {
                    throw new IllegalArgumentException("unknown or incomplete argument " + a + "\n" + USAGE);
                }
            }
            List<String> adapters = v.get("adapters").isBlank() ? List.of() : List.of(v.get("adapters").split(","));
            return new Settings(URI.create(v.get("url")), Double.parseDouble(v.get("rate")),
                    Integer.parseInt(v.get("clients")), Integer.parseInt(v.get("requests")),
                    Duration.ofSeconds(Long.parseLong(v.get("duration"))), adapters, Double.parseDouble(v.get("zipf")),
                    Integer.parseInt(v.get("prompt-tokens")), Integer.parseInt(v.get("max-tokens")),
                    Integer.parseInt(v.get("vocab")), apiKey, json, Long.parseLong(v.get("seed")));
        }
    }

    static final String USAGE = """
            usage: LoadGenerator [--url http://127.0.0.1:8000] [--rate R | --clients N] [--requests N] [--duration S]
                                 [--adapters a,b,c] [--zipf S] [--prompt-tokens N] [--max-tokens N] [--vocab N]
                                 [--seed N] [--api-key KEY] [--json]
              --rate R     open loop: Poisson arrivals at R requests/s (0 = closed loop with --clients)
              --adapters   adapter names; each request picks one by Zipf(S) rank (first = most popular); none = base
            """;

    /** One finished request. */
    record Sample(String adapter, int status, double ttftMs, double tpotMs, double e2eMs, int tokens) {
    }

    private final Settings s;
    private final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final List<Sample> samples = Collections.synchronizedList(new ArrayList<>());
    /** Failed requests by what went wrong (see the class comment). */
    private final Map<String, AtomicInteger> failures = new ConcurrentHashMap<>();
    private final AtomicInteger started = new AtomicInteger();

    LoadGenerator(Settings s) {
        this.s = s;
    }

    public static void main(String[] args) throws Exception {
        if (List.of(args).contains("--help")) {
            System.out.print(USAGE);
            return;
        }
        LoadGenerator g = new LoadGenerator(Settings.parse(args));
        Map<String, Object> report = g.run();
        System.out.println(g.table(report));
        if (g.s.json()) {
            System.out.println(Json.of(report));
        }
    }

    /** Runs the load and returns the report. */
    Map<String, Object> run() throws InterruptedException {
        long start = System.nanoTime();
        long deadline = start + s.duration().toNanos();
        SplittableRandom rng = new SplittableRandom(s.seed());
        double[] zipf = zipfCdf(s.adapters().size(), s.zipf());
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            Thread progress = Thread.ofVirtual().start(() -> progress(start));
            if (s.rate() > 0) {
                long next = System.nanoTime();
                while (started.get() < s.requests() && System.nanoTime() < deadline) {
                    next += (long) (-Math.log(1 - rng.nextDouble()) / s.rate() * 1e9);
                    long wait = next - System.nanoTime();
                    if (wait > 0) {
                        TimeUnit.NANOSECONDS.sleep(wait);
                    }
                    String adapter = pick(zipf, rng);
                    long seed = rng.nextLong();
                    started.incrementAndGet();
                    pool.submit(() -> one(adapter, seed));
                }
            } else {
                for (int c = 0; c < s.clients(); c++) {
                    long clientSeed = rng.nextLong();
                    pool.submit(() -> {
                        SplittableRandom r = new SplittableRandom(clientSeed);
                        while (started.incrementAndGet() <= s.requests() && System.nanoTime() < deadline) {
                            one(pick(zipf, r), r.nextLong());
                        }
                    });
                }
            }
            pool.shutdown();
            pool.awaitTermination(s.duration().toSeconds() + 600, TimeUnit.SECONDS);
            progress.interrupt();
        }
        return report((System.nanoTime() - start) / 1e9);
    }

    private String pick(double[] cdf, SplittableRandom rng) {
        if (cdf.length == 0) {
            return null;
        }
        double u = rng.nextDouble();
        for (int i = 0; i < cdf.length; i++) {
            if (u <= cdf[i]) {
                return s.adapters().get(i);
            }
        }
        return s.adapters().get(cdf.length - 1);
    }

    static double[] zipfCdf(int n, double exponent) {
        double[] cdf = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += 1 / Math.pow(i + 1, exponent);
            cdf[i] = sum;
        }
        for (int i = 0; i < n; i++) {
            cdf[i] /= sum;
        }
        return cdf;
    }

    /** Sends one streaming completion and records its timings. */
    private void one(String adapter, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        StringBuilder prompt = new StringBuilder("[1");
        for (int i = 1; i < s.promptTokens(); i++) {
            prompt.append(',').append(3 + r.nextInt(s.vocab() - 3));
        }
        prompt.append(']');
        String body = "{\"prompt\":" + prompt + ",\"max_tokens\":" + s.maxTokens() + ",\"ignore_eos\":true,"
                + "\"temperature\":0.8,\"seed\":" + (seed & 0xffff) + ",\"stream\":true,"
                + "\"stream_options\":{\"include_usage\":true}"
                + (adapter == null ? "" : ",\"adapter\":\"" + adapter + "\"") + "}";
        HttpRequest.Builder req = HttpRequest.newBuilder(s.url().resolve("/v1/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        if (s.apiKey() != null) {
            req.header("Authorization", "Bearer " + s.apiKey());
        }
        long t0 = System.nanoTime();
        try {
            HttpResponse<Stream<String>> res = client.send(req.build(), HttpResponse.BodyHandlers.ofLines());
            List<Long> events = new ArrayList<>();  // arrival of each chunk that carries tokens
            int[] completionTokens = {-1};
            String[] streamError = {null};
            try (Stream<String> lines = res.body()) {
                lines.forEach(line -> {
                    if (line.startsWith("data: {\"error\"") && streamError[0] == null) {
                        Matcher code = ERROR_CODE.matcher(line);
                        streamError[0] = "stream_error:" + (code.find() ? code.group(1) : "null");
                    }
                    if (line.startsWith("data: {") && line.contains("\"finish_reason\":null")) {
                        events.add(System.nanoTime());
                    }
                    Matcher usage = COMPLETION_TOKENS.matcher(line);
                    if (line.startsWith("data: {") && line.contains("\"choices\":[]") && usage.find()) {
                        completionTokens[0] = Integer.parseInt(usage.group(1));
                    }
                });
            }
            long t1 = System.nanoTime();
            if (res.statusCode() != 200) {
                failed(String.valueOf(res.statusCode()));
            } else if (streamError[0] != null) {
                failed(streamError[0]);  // the usage chunk that may follow the error does not make it a success
            } else if (events.isEmpty() || completionTokens[0] < 0) {
                failed("incomplete_stream");
            } else {
                double ttft = (events.get(0) - t0) / 1e6;
                double tpot = completionTokens[0] < 2 ? Double.NaN
                        : (events.get(events.size() - 1) - events.get(0)) / 1e6 / (completionTokens[0] - 1);
                samples.add(new Sample(adapter, 200, ttft, tpot, (t1 - t0) / 1e6, completionTokens[0]));
            }
        } catch (IOException e) {
            failed("connection");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void failed(String what) {
        failures.computeIfAbsent(what, k -> new AtomicInteger()).incrementAndGet();
    }

    private void progress(long start) {
        try {
            while (!Thread.currentThread().isInterrupted()) {
                Thread.sleep(1000);
                System.err.printf(Locale.ROOT, "\r%5.0fs  started %d  done %d  errors %d",
                        (System.nanoTime() - start) / 1e9,
                        Math.min(started.get(), s.requests()), samples.size(), errors());
            }
        } catch (InterruptedException e) {
            System.err.println();
        }
    }

    private int errors() {
        return failures.values().stream().mapToInt(AtomicInteger::get).sum();
    }

    private Map<String, Object> report(double seconds) {
        List<Sample> ok = List.copyOf(samples);
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("mode", s.rate() > 0 ? "open-loop " + s.rate() + " req/s" : "closed-loop " + s.clients() + " clients");
        r.put("seconds", round(seconds));
        r.put("requests_ok", ok.size());
        r.put("errors_by_status", errorsByStatus());
        r.put("requests_per_s", round(ok.size() / seconds));
        r.put("output_tokens", ok.stream().mapToInt(Sample::tokens).sum());  // from each stream's usage
        r.put("output_tokens_per_s", round(ok.stream().mapToInt(Sample::tokens).sum() / seconds));
        r.put("ttft_ms", percentiles(ok.stream().mapToDouble(Sample::ttftMs).toArray()));
        r.put("tpot_ms", percentiles(ok.stream().mapToDouble(Sample::tpotMs).filter(Double::isFinite).toArray()));
        r.put("e2e_ms", percentiles(ok.stream().mapToDouble(Sample::e2eMs).toArray()));
        return r;
    }

    private Map<String, Object> errorsByStatus() {
        Map<String, Object> m = new TreeMap<>();
        failures.forEach((k, v) -> m.put(k, v.get()));
        return m;
    }

    /** The usage chunk's token count (the final chunk of a stream with include_usage). */
    private static final Pattern COMPLETION_TOKENS = Pattern.compile("\"completion_tokens\":(\\d+)");
    /** An error chunk's {@code code}. */
    private static final Pattern ERROR_CODE = Pattern.compile("\"code\":\"([^\"]*)\"");

    /** p50, p90 and p99 of {@code values}; null (JSON null) each when there are none. */
    static Map<String, Object> percentiles(double[] values) {
        double[] v = values.clone();
        java.util.Arrays.sort(v);
        Map<String, Object> p = new LinkedHashMap<>();
        for (double q : new double[] {0.50, 0.90, 0.99}) {
            p.put("p" + (int) Math.round(q * 100), v.length == 0 ? null
                    : round(v[Math.min(v.length - 1, (int) Math.ceil(q * v.length) - 1)]));
        }
        return p;
    }

    String table(Map<String, Object> r) {
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "%s, %.1f s: %s ok, %.2f req/s, %.1f output tok/s, errors %s%n",
                r.get("mode"), r.get("seconds"), r.get("requests_ok"), r.get("requests_per_s"),
                r.get("output_tokens_per_s"), r.get("errors_by_status")));
        b.append(String.format(Locale.ROOT, "%-8s %10s %10s %10s%n", "", "p50", "p90", "p99"));
        for (String k : List.of("ttft_ms", "tpot_ms", "e2e_ms")) {
            @SuppressWarnings("unchecked")
            Map<String, Object> p = (Map<String, Object>) r.get(k);
            b.append(String.format(Locale.ROOT, "%-8s %10s %10s %10s%n", k, orDash(p.get("p50")), orDash(p.get("p90")),
                    orDash(p.get("p99"))));
        }
        return b.toString();
    }

    private static Object orDash(Object v) {
        return v == null ? "-" : v;
    }

    private static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }
}
