package io.loraserve.deploy;

import static io.loraserve.deploy.Deploy.at;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.config.OptionSource;
import io.loraserve.config.Options;
import io.loraserve.server.LoraServer;
import jakarta.json.Json;
import jakarta.json.JsonArray;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import jakarta.json.JsonValue;
import java.io.IOException;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.DumperOptions;
import org.yaml.snakeyaml.Yaml;

/**
 * A real loraserve scraped by a real Prometheus (the Debian package {@code prometheus}) with the
 * loraserve job of {@code deploy/prometheus/prometheus.yml} and its alert rules, every second, on
 * loopback. The server has an {@code --admin-key}, which the admin port's {@code /metrics} follows,
 * so the job sends it as the README says: {@code authorization} with a {@code credentials_file}. Drives completions, then asks Prometheus's HTTP API what it stored, and evaluates every
 * PromQL expression of the Grafana dashboard and the alert rules against it. Skipped when the
 * {@code prometheus} binary is not installed.
 */
class PrometheusScrapeTest {
    /** The traffic the test drives: the {@code model} of the requests, the {@code adapter} label they count under. */
    private record Traffic(String model, String label, int requests) {
    }

    private static final int MAX_TOKENS = 6;
    private static final String ADMIN_KEY = "scrape-key-7";
    private static final List<Traffic> TRAFFIC = List.of(new Traffic("tiny", "base", 3),
            new Traffic("attn-r4", "attn-r4", 4), new Traffic("all-r8-rslora", "all-r8-rslora", 2));
    /** Grafana's variables, as the dashboard's defaults ("All") expand them. */
    private static final Map<String, String> GRAFANA_VARIABLES = Map.of(
            "$__rate_interval", "1m", "$instance", ".*", "$adapter", ".*");
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private static Path work;
    private static LoraServer loraserve;
    private static Process prometheus;
    private static URI api;

    @BeforeAll
    static void start() throws Exception {
        Assumptions.assumeTrue(onPath("prometheus") != null && onPath("promtool") != null,
                "prometheus/promtool not installed (Debian: apt-get install -y prometheus); skipping the real-Prometheus test");
        work = Files.createTempDirectory("loraserve-prometheus");
        Files.writeString(work.resolve("admin-key"), ADMIN_KEY + "\n");
        List<String> args = new ArrayList<>(List.of("--model", Fixtures.tinyModel().toString(),
                "--served-model-name", "tiny", "--port", "0", "--admin-port", "0", "--admin-key", ADMIN_KEY,
                "--adapter-root", Fixtures.tinyAdapter("").toString()));
        TRAFFIC.stream().filter(t -> !t.model().equals("tiny"))
                .forEach(t -> args.addAll(List.of("--adapter", t.model() + "=" + Fixtures.tinyAdapter(t.model()))));
        loraserve = LoraServer.start(Options.parse(args.toArray(String[]::new), OptionSource.NONE), work);
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        api = URI.create("http://127.0.0.1:" + port + "/api/v1/");
        Path config = work.resolve("prometheus.yml");
        Files.writeString(config, testConfig(loraserve.adminPort()));
        prometheus = new ProcessBuilder(onPath("prometheus").toString(), "--config.file=" + config,
                "--storage.tsdb.path=" + work.resolve("data"), "--web.listen-address=127.0.0.1:" + port,
                "--log.level=warn")
                .redirectErrorStream(true).redirectOutput(work.resolve("prometheus.log").toFile()).start();
        await("Prometheus scrapes loraserve", () -> !query("up{job=\"loraserve\"} == 1").isEmpty());
        drive();
        await("Prometheus has every request", () -> TRAFFIC.stream().allMatch(t -> {
            JsonArray r = query("loraserve_requests_total{adapter=\"" + t.label() + "\",status=\"ok\"}");
            return !r.isEmpty() && value(r.getJsonObject(0)) == t.requests();
        }));
    }

    @AfterAll
    static void stop() throws Exception {
        if (prometheus != null) {
            prometheus.destroy();
            prometheus.waitFor(20, TimeUnit.SECONDS);
        }
        if (loraserve != null) {
            loraserve.close();
        }
        if (work != null) {
            try (var files = Files.walk(work)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    @Test
    void perAdapterCountersArriveWithTheirLabels() {
        for (Traffic t : TRAFFIC) {
            JsonObject ok = only(query("loraserve_requests_total{adapter=\"" + t.label() + "\",status=\"ok\"}"));
            assertEquals("loraserve", ok.getJsonObject("metric").getString("job"));
            assertEquals(t.requests(), value(ok));
            JsonObject generated = only(query("loraserve_generation_tokens_total{adapter=\"" + t.label() + "\"}"));
            assertEquals(t.requests() * MAX_TOKENS, value(generated));
            for (String status : List.of("error", "cancelled", "rejected")) {
                assertEquals(0, value(only(query("loraserve_requests_total{adapter=\"" + t.label() + "\",status=\""
                        + status + "\"}"))), status + " exists and is zero");
            }
        }
        for (Traffic t : TRAFFIC.stream().filter(t -> !t.label().equals("base")).toList()) {
            assertEquals(1, value(only(query("loraserve_adapter_loaded{adapter=\"" + t.label() + "\"}"))));
            assertTrue(value(only(query("loraserve_adapter_size_bytes{adapter=\"" + t.label() + "\"}"))) > 0);
        }
        int total = TRAFFIC.stream().mapToInt(Traffic::requests).sum();
        assertEquals(total * MAX_TOKENS, value(only(query("loraserve_engine_generated_tokens_total"))));
    }

    @Test
    void timeToFirstTokenQuantileIsPlausible() {
        JsonArray q = query("histogram_quantile(0.9, sum by (adapter, le) "
                + "(rate(loraserve_time_to_first_token_seconds_bucket[1m])))");
        for (Traffic t : TRAFFIC) {
            JsonObject sample = q.stream().map(JsonValue::asJsonObject)
                    .filter(s -> t.label().equals(s.getJsonObject("metric").getString("adapter")))
                    .findFirst().orElseThrow(() -> new AssertionError("no TTFT p90 for " + t.label() + ": " + q));
            double p90 = value(sample);
            double max = value(only(query("max_over_time(loraserve_time_to_first_token_seconds_max{adapter=\""
                    + t.label() + "\"}[1m])")));
            assertTrue(p90 > 0 && p90 < 5, "p90 TTFT of a tiny CPU model is between 0 and 5 s: " + p90);
            assertTrue(p90 <= bucketAbove(max), "p90 " + p90 + " is within the bucket of the slowest TTFT " + max);
        }
    }

    @Test
    void vllmGaugesReachPrometheusUnderTheirOwnNames() {
        assertEquals("tiny", only(query("vllm:num_requests_waiting")).getJsonObject("metric").getString("model_name"));
        double usage = value(only(query("vllm:kv_cache_usage_perc")));
        assertTrue(usage >= 0 && usage <= 1, "usage is a fraction: " + usage);
        // Prometheus stores no empty label, so the adapter lists appear only while adapters run or wait
        // (MetricsEndpointTest checks they are always in the exposition).
        JsonObject lora = only(query("vllm:lora_requests_info"));
        assertTrue(lora.getJsonObject("metric").containsKey("max_lora"), lora.toString());
        assertTrue(Math.abs(value(lora) - System.currentTimeMillis() / 1000.0) < 600, "the value is a Unix time: " + lora);
    }

    @Test
    void everyDashboardExpressionEvaluates() {
        List<String> exprs = dashboardExpressions();
        assertTrue(exprs.size() > 20, "the dashboard has its panels: " + exprs.size());
        exprs.forEach(PrometheusScrapeTest::query);
        assertMetricsExist(exprs);
    }

    @Test
    void everyAlertRuleEvaluatesAndPrometheusLoadedThemHealthy() {
        List<Map<String, Object>> rules = alertRules();
        for (Map<String, Object> rule : rules) {
            query((String) rule.get("expr"));
        }
        assertMetricsExist(rules.stream().map(r -> (String) r.get("expr")).toList());
        await("Prometheus evaluates every rule", () -> {
            List<JsonObject> loaded = get("rules").getJsonObject("data").getJsonArray("groups").stream()
                    .flatMap(g -> g.asJsonObject().getJsonArray("rules").stream()).map(JsonValue::asJsonObject).toList();
            return loaded.size() == rules.size() && loaded.stream().allMatch(r -> r.getString("health").equals("ok"));
        });
    }

    @Test
    void promtoolAcceptsTheRulesAndTheConfig() throws Exception {
        Path dir = Deploy.dir().resolve("prometheus");
        promtool("check", "rules", dir.resolve("loraserve-rules.yml").toString());
        promtool("check", "config", dir.resolve("prometheus.yml").toString());
    }

    /** deploy/prometheus/prometheus.yml's loraserve job, scraping this test's loraserve every second. */
    private static String testConfig(int adminPort) {
        Map<String, Object> shipped = Deploy.load(Deploy.dir().resolve("prometheus/prometheus.yml")).get(0);
        List<Map<String, Object>> jobs = at(shipped, "scrape_configs");
        Map<String, Object> job = new LinkedHashMap<>(jobs.stream()
                .filter(j -> "loraserve".equals(j.get("job_name"))).findFirst().orElseThrow());
        job.put("scrape_interval", "1s");
        job.put("static_configs", List.of(Map.of("targets", List.of("127.0.0.1:" + adminPort))));
        job.put("authorization", Map.of("type", "Bearer", "credentials_file", work.resolve("admin-key").toString()));
        List<String> ruleFiles = at(shipped, "rule_files");
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("global", Map.of("scrape_interval", "1s", "evaluation_interval", "1s"));
        config.put("rule_files", ruleFiles.stream()
                .map(f -> Deploy.dir().resolve("prometheus").resolve(f).toString()).toList());
        config.put("scrape_configs", List.of(job));
        DumperOptions o = new DumperOptions();
        o.setDefaultFlowStyle(DumperOptions.FlowStyle.BLOCK);
        return new Yaml(o).dump(config);
    }

    /** Sends every request of {@link #TRAFFIC} at once, so the engine batches them. */
    private static void drive() throws Exception {
        URI completions = URI.create("http://127.0.0.1:" + loraserve.port() + "/v1/completions");
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<HttpResponse<String>>> replies = new ArrayList<>();
            for (Traffic t : TRAFFIC) {
                for (int i = 0; i < t.requests(); i++) {
                    String body = "{\"model\":\"" + t.model() + "\",\"prompt\":\"Hello number " + i + "\",\"max_tokens\":"
                            + MAX_TOKENS + ",\"temperature\":0,\"ignore_eos\":true}";
                    replies.add(pool.submit(() -> HTTP.send(HttpRequest.newBuilder(completions)
                            .header("Content-Type", "application/json")
                            .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString())));
                }
            }
            for (Future<HttpResponse<String>> r : replies) {
                assertEquals(200, r.get().statusCode(), r.get().body());
            }
        }
    }

    @SuppressWarnings("unchecked")
    private static List<String> dashboardExpressions() {
        Map<String, Object> dashboard;
        try (JsonReader r = Json.createReader(Files.newBufferedReader(Deploy.dir().resolve("grafana/loraserve.json")))) {
            dashboard = (Map<String, Object>) toJava(r.readObject());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<String> exprs = new ArrayList<>();
        for (Map<String, Object> panel : (List<Map<String, Object>>) dashboard.get("panels")) {
            for (Map<String, Object> target : (List<Map<String, Object>>) panel.getOrDefault("targets", List.of())) {
                exprs.add(expand((String) target.get("expr")));
            }
        }
        Matcher labelValues = Pattern.compile("^label_values\\((.*), *[a-z_]+\\)$").matcher("");
        for (Map<String, Object> v : (List<Map<String, Object>>) at(dashboard, "templating", "list")) {
            if ("query".equals(v.get("type"))) {
                String q = at(v, "query", "query");
                assertTrue(labelValues.reset(q).matches(), "a label_values() variable: " + q);
                exprs.add(expand(labelValues.group(1)));
            }
        }
        return exprs;
    }

    private static Object toJava(JsonValue v) {
        return switch (v.getValueType()) {
            case OBJECT -> {
                Map<String, Object> m = new LinkedHashMap<>();
                v.asJsonObject().forEach((k, x) -> m.put(k, toJava(x)));
                yield m;
            }
            case ARRAY -> v.asJsonArray().stream().map(PrometheusScrapeTest::toJava).toList();
            case STRING -> ((jakarta.json.JsonString) v).getString();
            default -> v.toString();
        };
    }

    private static String expand(String expr) {
        String out = expr;
        for (Map.Entry<String, String> e : GRAFANA_VARIABLES.entrySet()) {
            out = out.replace(e.getKey(), e.getValue());
        }
        assertTrue(!out.contains("$"), "an unknown Grafana variable in " + expr);
        return out;
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> alertRules() {
        Map<String, Object> file = Deploy.load(Deploy.dir().resolve("prometheus/loraserve-rules.yml")).get(0);
        List<Map<String, Object>> rules = new ArrayList<>();
        for (Map<String, Object> group : (List<Map<String, Object>>) at(file, "groups")) {
            rules.addAll(at(group, "rules"));
        }
        return rules;
    }

    /** Every metric name an expression uses is one Prometheus has stored (catches a misspelt name, which evaluates to nothing). */
    private static void assertMetricsExist(List<String> exprs) {
        Set<String> known = new LinkedHashSet<>();
        get("label/__name__/values").getJsonArray("data").getValuesAs(jakarta.json.JsonString.class)
                .forEach(s -> known.add(s.getString()));
        Pattern name = Pattern.compile("\\b((?:loraserve_|vllm:|jvm_|process_)[a-zA-Z0-9_:]*)");
        for (String expr : exprs) {
            Matcher m = name.matcher(expr);
            while (m.find()) {
                String metric = m.group(1);
                assertTrue(known.contains(metric), metric + " (in " + expr + ") is not a metric Prometheus has");
            }
        }
    }

    private static double bucketAbove(double seconds) {
        return io.loraserve.metrics.MetricNames.TTFT_BUCKETS.stream().mapToDouble(d -> d.toNanos() / 1e9)
                .filter(b -> b >= seconds).min().orElse(Double.POSITIVE_INFINITY);
    }

    /** Evaluates {@code promql} now; fails with Prometheus's error when it does not evaluate. */
    private static JsonArray query(String promql) {
        JsonObject r = get("query?query=" + URLEncoder.encode(promql, StandardCharsets.UTF_8));
        assertEquals("success", r.getString("status"), promql + ": " + r);
        JsonObject data = r.getJsonObject("data");
        return data.getString("resultType").equals("vector") ? data.getJsonArray("result") : Json.createArrayBuilder().build();
    }

    private static JsonObject get(String path) {
        try {
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(api.resolve(path)).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() == 503) {  // still starting ("Service Unavailable", not JSON): await tries again
                throw new IOException("Prometheus is not ready: " + r.body());
            }
            try (JsonReader reader = Json.createReader(new StringReader(r.body()))) {
                return reader.readObject();
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static JsonObject only(JsonArray result) {
        assertEquals(1, result.size(), "one series: " + result);
        return result.getJsonObject(0);
    }

    private static double value(JsonObject sample) {
        return Double.parseDouble(sample.getJsonArray("value").getString(1));
    }

    private static void promtool(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(onPath("promtool").toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), String.join(" ", cmd) + ":\n" + out);
    }

    private static void await(String what, java.util.function.BooleanSupplier condition) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            try {
                if (condition.getAsBoolean()) {
                    return;
                }
            } catch (UncheckedIOException | AssertionError notYet) {
                // Prometheus not up yet, or the series not scraped yet: try again
            }
            try {
                Thread.sleep(250);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
        throw new AssertionError("timed out waiting until " + what + "; Prometheus log: " + work.resolve("prometheus.log"));
    }

    private static Path onPath(String binary) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
            Path p = Path.of(dir, binary);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }
}
