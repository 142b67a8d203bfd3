package io.loraserve.loadtest;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A soak of a loraserve: for {@code --minutes}, {@link LoadGenerator}'s streaming clients over the
 * base and the adapters, an admin loop that loads, replaces, pins, unpins and unloads an adapter
 * every second, and greedy probes every 15 s compared token for token with the answers taken
 * before the load; the server's RSS, open files, threads, KV blocks and JavaCPP bytes are sampled
 * every 10 s. Prints a verdict table; exits 1 on any probe mismatch, 5xx, stream error, failed
 * admin call, or an RSS slope over the last half of the run above {@code --max-rss-slope} MB/min.
 *
 * <p>Without {@code --url} it starts the demo server itself ({@code -Xmx512m --max-adapters 2}, the
 * demo model and its adapters, free ports) and stops it at the end.
 */
public final class Soak {
    static final String USAGE = """
            usage: Soak [--minutes N] [--clients N] [--max-rss-slope MB_PER_MIN]
                        [--url http://HOST:8000 --admin-url http://HOST:8001 --pid PID --adapters a,b,c --churn-paths p,q]
              without --url: starts the demo server (the jar this class runs from) and soaks it
              --pid        the server's process id, for RSS, open files and threads (Linux /proc)
              --churn-paths two adapter paths the admin loop loads and replaces with (default: the demo's code, verse)
            """;
    private static final Pattern METRIC = Pattern.compile("(?m)^([a-z_:]+)(?:\\{[^}]*})? ([0-9.eE+-]+)$");
    private static final List<String> PROBE_PROMPTS = List.of("Once upon a time", "def add(a, b):",
            "The parties agree that");
    private static final String CHURN = "soak-churn";

    private final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final URI url;
    private final URI adminUrl;
    private final long pid;
    private final List<String> models;
    private final List<String> churnPaths;
    private final Map<String, AtomicInteger> admin = new ConcurrentHashMap<>();
    private final AtomicInteger probes = new AtomicInteger();
    private final List<String> mismatches = new ArrayList<>();
    private final List<double[]> samples = new ArrayList<>();  // {minute, rss MB, fds, threads, kv used %, javacpp MB}

    Soak(URI url, URI adminUrl, long pid, List<String> models, List<String> churnPaths) {
        this.url = url;
        this.adminUrl = adminUrl;
        this.pid = pid;
        this.models = models;
        this.churnPaths = churnPaths;
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> v = new LinkedHashMap<>(Map.of("minutes", "30", "clients", "8", "max-rss-slope", "2"));
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                System.err.print(USAGE);
                System.exit(2);
            }
            v.put(args[i].substring(2), args[++i]);
        }
        double minutes = Double.parseDouble(v.get("minutes"));
        Process server = null;
        URI url;
        URI adminUrl;
        long pid;
        if (v.containsKey("url")) {
            url = URI.create(v.get("url"));
            adminUrl = URI.create(v.getOrDefault("admin-url", "http://127.0.0.1:8001"));
            pid = Long.parseLong(v.getOrDefault("pid", "-1"));
        } else {
            int port = freePort();
            int adminPort = freePort();
            server = startDemo(port, adminPort);
            url = URI.create("http://127.0.0.1:" + port);
            adminUrl = URI.create("http://127.0.0.1:" + adminPort);
            pid = server.pid();
        }
        int code;
        try {
            List<String> adapters = List.of(v.getOrDefault("adapters", "code,verse,legal").split(","));
            List<String> churn = List.of(v.getOrDefault("churn-paths", "code,verse").split(","));
            Soak soak = new Soak(url, adminUrl, pid, adapters, churn);
            code = soak.run(minutes, Integer.parseInt(v.get("clients")), Double.parseDouble(v.get("max-rss-slope")));
        } finally {
            if (server != null) {
                server.destroy();
                server.waitFor();
            }
        }
        System.exit(code);
    }

    /** Runs the soak; returns the exit code. */
    int run(double minutes, int clients, double maxRssSlope) throws Exception {
        awaitReady(Duration.ofMinutes(3));
        List<String> probeModels = new ArrayList<>(List.of(baseName()));
        probeModels.addAll(models);
        Map<String, String> expected = new LinkedHashMap<>();
        for (String m : probeModels) {
            for (String p : PROBE_PROMPTS) {
                expected.put(m + " / " + p, probe(m, p));
            }
        }
        long start = System.nanoTime();
        long end = start + (long) (minutes * 60e9);
        List<String> loadAdapters = new ArrayList<>(probeModels);  // the base by its served name, then the adapters
        LoadGenerator load = new LoadGenerator(new LoadGenerator.Settings(url, 0, clients, Integer.MAX_VALUE,
                Duration.ofNanos(end - System.nanoTime()), loadAdapters, 0.5, 32, 64, 2048, null, false, 1));
        Thread churn = Thread.ofVirtual().start(() -> churn(end));
        Thread checker = Thread.ofVirtual().start(() -> checkProbes(expected, end));
        Thread sampler = Thread.ofVirtual().start(() -> sample(start, end));
        Map<String, Object> report = load.run();
        churn.join();
        checker.join();
        sampler.join();
        return verdict(report, maxRssSlope);
    }

    private String baseName() throws IOException, InterruptedException {
        Matcher m = Pattern.compile("\"id\":\"([^\"]+)\"").matcher(get(url.resolve("/v1/models")));
        if (!m.find()) {
            throw new IllegalStateException("/v1/models lists no model");
        }
        return m.group(1);
    }

    /** A greedy answer's token ids, or its error. */
    private String probe(String model, String prompt) throws IOException, InterruptedException {
        String body = "{\"model\":" + Json.of(model) + ",\"prompt\":" + Json.of(prompt)
                + ",\"max_tokens\":16,\"temperature\":0,\"ignore_eos\":true,\"return_token_ids\":true}";
        HttpResponse<String> r = client.send(HttpRequest.newBuilder(url.resolve("/v1/completions"))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
        Matcher m = Pattern.compile("\"token_ids\":\\[([0-9,]*)]").matcher(r.body());
        return r.statusCode() == 200 && m.find() ? m.group(1) : "status " + r.statusCode() + ": " + r.body();
    }

    private void checkProbes(Map<String, String> expected, long end) {
        while (sleepUntil(Math.min(end, System.nanoTime() + 15_000_000_000L)) && System.nanoTime() < end) {
            expected.forEach((key, tokens) -> {
                String[] mp = key.split(" / ", 2);
                try {
                    String got = probe(mp[0], mp[1]);
                    probes.incrementAndGet();
                    if (!got.equals(tokens)) {
                        synchronized (mismatches) {
                            mismatches.add(key + ": expected [" + tokens + "], got [" + got + "]");
                        }
                    }
                } catch (IOException | InterruptedException e) {
                    synchronized (mismatches) {
                        mismatches.add(key + ": " + e);
                    }
                }
            });
        }
    }

    /** Load, replace, pin, unpin, unload {@link #CHURN}, one call a second, until {@code end}. */
    private void churn(long end) {
        String[] calls = {"load", "replace", "pin", "unpin", "unload"};
        for (int i = 0; System.nanoTime() < end; i++) {
            String call = calls[i % calls.length];
            try {
                int status = switch (call) {
                    case "load" -> adminPost("/admin/adapters", "{\"name\":\"" + CHURN + "\",\"path\":"
                            + Json.of(churnPaths.get(0)) + "}");
                    case "replace" -> adminPost("/admin/adapters", "{\"name\":\"" + CHURN + "\",\"path\":"
                            + Json.of(churnPaths.get(1)) + ",\"replace\":true}");
                    case "pin", "unpin" -> adminPost("/admin/adapters/" + CHURN + "/" + call, "");
                    default -> client.send(HttpRequest.newBuilder(adminUrl.resolve("/admin/adapters/" + CHURN))
                            .DELETE().build(), HttpResponse.BodyHandlers.discarding()).statusCode();
                };
                admin.computeIfAbsent(call + (status / 100 == 2 ? " ok" : " " + status), k -> new AtomicInteger())
                        .incrementAndGet();
            } catch (IOException | InterruptedException e) {
                admin.computeIfAbsent(call + " " + e.getClass().getSimpleName(), k -> new AtomicInteger())
                        .incrementAndGet();
            }
            sleepUntil(System.nanoTime() + 1_000_000_000L);
        }
    }

    private void sample(long start, long end) {
        do {
            try {
                Map<String, Double> m = metrics();
                double kv = m.getOrDefault("loraserve_engine_kv_blocks_used", 0.0)
                        / Math.max(1, m.getOrDefault("loraserve_engine_kv_blocks_capacity", 1.0));
                synchronized (samples) {
                    samples.add(new double[] {(System.nanoTime() - start) / 60e9, rssMb(), fds(), threads(), 100 * kv,
                        m.getOrDefault("loraserve_native_physical_bytes", 0.0) / 1e6});
                }
            } catch (IOException | InterruptedException e) {
                System.err.println("\nsoak: sampling failed: " + e);
            }
        } while (sleepUntil(Math.min(end, System.nanoTime() + 10_000_000_000L)) && System.nanoTime() < end);
    }

    private int verdict(Map<String, Object> load, double maxRssSlope) {
        @SuppressWarnings("unchecked")
        Map<String, Object> errors = (Map<String, Object>) load.get("errors_by_status");
        boolean serverErrors = errors.keySet().stream().anyMatch(k -> k.startsWith("5") || k.startsWith("stream_error")
                || k.equals("incomplete_stream") || k.equals("connection"));
        boolean adminFailed = admin.keySet().stream().anyMatch(k -> !k.endsWith(" ok"));
        List<double[]> s = List.copyOf(samples);
        double slope = slope(s.subList(s.size() / 2, s.size()));
        double[] first = s.get(0);
        double[] last = s.get(s.size() - 1);
        List<String> lines = new ArrayList<>();
        lines.add(String.format(Locale.ROOT, "minutes                 %.1f", (double) load.get("seconds") / 60));
        lines.add("requests ok             " + load.get("requests_ok") + " (" + load.get("output_tokens_per_s")
                + " tok/s)");
        lines.add("errors by status        " + (errors.isEmpty() ? "none" : errors));
        lines.add("probes                  " + probes.get() + " checked, " + mismatches.size() + " mismatched");
        lines.add("admin calls             " + new java.util.TreeMap<>(admin));
        lines.add(String.format(Locale.ROOT, "RSS MB                  %.0f -> %.0f, slope %.2f MB/min over the last half"
                + " (bound %.1f)", first[1], last[1], slope, maxRssSlope));
        lines.add(String.format(Locale.ROOT, "open files              %.0f -> %.0f", first[2], last[2]));
        lines.add(String.format(Locale.ROOT, "threads                 %.0f -> %.0f", first[3], last[3]));
        lines.add(String.format(Locale.ROOT, "KV blocks used %%        %.0f -> %.0f (max %.0f)", first[4], last[4],
                s.stream().mapToDouble(x -> x[4]).max().orElse(0)));
        lines.add(String.format(Locale.ROOT, "JavaCPP MB              %.0f -> %.0f", first[5], last[5]));
        boolean pass = mismatches.isEmpty() && !serverErrors && !adminFailed
                && (Double.isNaN(slope) ? pid < 0 : slope <= maxRssSlope);  // RSS unknown only when no --pid was given
        lines.add("verdict                 " + (pass ? "PASS" : "FAIL"));
        System.out.println();
        lines.forEach(System.out::println);
        mismatches.stream().limit(10).forEach(m -> System.out.println("  mismatch: " + m));
        return pass ? 0 : 1;
    }

    /** Least-squares slope of RSS (MB) over minutes; NaN below two samples or without /proc. */
    static double slope(List<double[]> s) {
        if (s.size() < 2 || s.stream().anyMatch(x -> Double.isNaN(x[1]))) {
            return Double.NaN;
        }
        double mx = s.stream().mapToDouble(x -> x[0]).average().orElse(0);
        double my = s.stream().mapToDouble(x -> x[1]).average().orElse(0);
        double num = 0;
        double den = 0;
        for (double[] x : s) {
            num += (x[0] - mx) * (x[1] - my);
            den += (x[0] - mx) * (x[0] - mx);
        }
        return den == 0 ? Double.NaN : num / den;
    }

    /** {@code /metrics}' unlabelled-or-first values by name. */
    private Map<String, Double> metrics() throws IOException, InterruptedException {
        Map<String, Double> m = new LinkedHashMap<>();
        Matcher x = METRIC.matcher(get(url.resolve("/metrics")));
        while (x.find()) {
            m.putIfAbsent(x.group(1), Double.parseDouble(x.group(2)));
        }
        return m;
    }

    private double rssMb() throws IOException {
        return procStatus("VmRSS:") / 1024;
    }

    private double threads() throws IOException {
        return procStatus("Threads:");
    }

    private double procStatus(String key) throws IOException {
        Path status = Path.of("/proc/" + pid + "/status");
        if (pid < 0 || !Files.exists(status)) {
            return Double.NaN;
        }
        return Files.readAllLines(status).stream().filter(l -> l.startsWith(key))
                .mapToDouble(l -> Double.parseDouble(l.substring(key.length()).trim().split("\\s+")[0]))
                .findFirst().orElse(Double.NaN);
    }

    private double fds() throws IOException {
        Path dir = Path.of("/proc/" + pid + "/fd");
        if (pid < 0 || !Files.isDirectory(dir)) {
            return Double.NaN;
        }
        try (var files = Files.list(dir)) {
            return files.count();
        }
    }

    private void awaitReady(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            try {
                if (client.send(HttpRequest.newBuilder(url.resolve("/health/ready")).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            }
            Thread.sleep(500);
        }
        throw new IllegalStateException(url + " was not ready within " + timeout);
    }

    private String get(URI uri) throws IOException, InterruptedException {
        return client.send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofString()).body();
    }

    private int adminPost(String path, String body) throws IOException, InterruptedException {
        return client.send(HttpRequest.newBuilder(adminUrl.resolve(path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.discarding())
                .statusCode();
    }

    /** Sleeps until {@code nanoTime}; false when interrupted. */
    private static boolean sleepUntil(long nanoTime) {
        try {
            long wait = nanoTime - System.nanoTime();
            if (wait > 0) {
                Thread.sleep(Duration.ofNanos(wait));
            }
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** The demo server from the jar this class runs from, on the given ports, its log in target/soak-server.log. */
    private static Process startDemo(int port, int adminPort) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        Path jar = Path.of(Soak.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        Path log = Path.of("target", "soak-server.log");
        Files.createDirectories(log.getParent());
        return new ProcessBuilder(java, "-Xmx512m", "--enable-native-access=ALL-UNNAMED",
                "--add-modules", "jdk.incubator.vector", "-jar", jar.toString(), "--port", String.valueOf(port),
                "--admin-port", String.valueOf(adminPort), "--max-adapters", "2")
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }
}
