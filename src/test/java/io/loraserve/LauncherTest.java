package io.loraserve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.config.Options;
import jakarta.json.Json;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The real launcher, {@link Main}, in a child JVM on the test class path, as a user runs it:
 * {@code --help}, refusals of bad command lines (exit code 2, one line), settings from the
 * environment, and the embedded demo model when no {@code --model} is given.
 */
class LauncherTest {
    private static final Pattern READY =
            Pattern.compile("loraserve listening on http://127\\.0\\.0\\.1:(\\d+) \\(model (\\S+), device cpu\\)");

    @TempDir
    Path workDir;

    /** A child JVM running {@link Main}; its stdout lines are queued as they come. */
    private static final class Launched implements AutoCloseable {
        final Process process;
        final LinkedBlockingQueue<String> stdout = new LinkedBlockingQueue<>();
        final CompletableFuture<String> stderr;

        Launched(Path workDir, Map<String, String> env, String... args) {
            List<String> command = new ArrayList<>(List.of(
                    Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "--enable-native-access=ALL-UNNAMED", "-Xmx512m",
                    "-cp", System.getProperty("java.class.path"), Main.class.getName()));
            command.addAll(Arrays.asList(args));
            ProcessBuilder pb = new ProcessBuilder(command).directory(workDir.toFile());
            pb.environment().keySet().removeIf(k -> k.toUpperCase().startsWith("LORASERVE"));
            pb.environment().putAll(env);
            try {
                process = pb.start();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            Thread.ofVirtual().start(() -> {
                try (BufferedReader r = process.inputReader(StandardCharsets.UTF_8)) {
                    r.lines().forEach(stdout::add);
                } catch (IOException | UncheckedIOException e) {
                    // the child exited
                }
            });
            stderr = CompletableFuture.supplyAsync(() -> readAll(process.getErrorStream()));
        }

        /** Waits for the child to exit on its own. */
        int exitCode() throws InterruptedException {
            assertTrue(process.waitFor(60, TimeUnit.SECONDS), "launcher did not exit");
            return process.exitValue();
        }

        String stdoutText() throws InterruptedException {
            exitCode();
            List<String> lines = new ArrayList<>();
            for (String l; (l = stdout.poll(2, TimeUnit.SECONDS)) != null; ) {
                lines.add(l);
            }
            return String.join("\n", lines);
        }

        /** The port announced by the ready line, and the served model name. */
        Matcher ready() throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while (System.nanoTime() < deadline) {
                String line = stdout.poll(1, TimeUnit.SECONDS);
                if (line != null) {
                    Matcher m = READY.matcher(line);
                    if (m.matches()) {
                        return m;
                    }
                }
                if (!process.isAlive()) {
                    throw new AssertionError("launcher exited with " + process.exitValue() + ": " + stderr.join());
                }
            }
            throw new AssertionError("no ready line within 90 s");
        }

        /** Stops the child as a user's Ctrl-C would (its shutdown hook closes the server). */
        @Override
        public void close() {
            process.destroy();
            try {
                if (!process.waitFor(30, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }

    private static String readAll(InputStream in) {
        try {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    private static JsonObject getJson(int port, String path) throws IOException, InterruptedException {
        HttpResponse<String> r = HttpClient.newHttpClient().send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        try (JsonReader reader = Json.createReader(new StringReader(r.body()))) {
            return reader.readObject();
        }
    }

    /** camelCase setting name to its flag: {@code maxModelLen} is {@code --max-model-len}. */
    /** The flag of a record component: kebab case; a repeatable flag's collection is named in the plural. */
    /**
     * The flag of an {@link Options} component: its name in dashes; a collection is either one
     * flag of that plural name (a list in one value) or a repeatable flag named in the singular.
     */
    private static String flagPattern(java.lang.reflect.RecordComponent component) {
        String flag = "--" + component.getName().replaceAll("([A-Z])", "-$1").toLowerCase();
        boolean collection = java.util.Collection.class.isAssignableFrom(component.getType())
                || Map.class.isAssignableFrom(component.getType());
        return collection && flag.endsWith("s") ? Pattern.quote(flag.substring(0, flag.length() - 1)) + "s?"
                : Pattern.quote(flag);
    }

    @Test
    void helpListsEveryFlag() throws InterruptedException {
        try (Launched l = new Launched(workDir, Map.of(), "--help")) {
            String help = l.stdoutText();
            assertEquals(0, l.exitCode(), l.stderr.join());
            List<String> flags = new ArrayList<>(Stream.of("--model", "--served-model-name", "--device", "--dtype",
                    "--kernels", "--quantization", "--gpu-policy", "--gpu-memory-utilization", "--max-model-len",
                    "--threads", "--max-num-seqs", "--max-num-batched-tokens", "--kv-block-size", "--kv-cache-bytes",
                    "--enable-prefix-caching", "--max-queued-requests", "--request-timeout", "--step-watchdog",
                    "--max-adapters", "--max-lora-rank", "--max-cpu-adapter-bytes", "--adapter-root", "--adapter",
                    "--lora-modules", "--lazy-adapters", "--state-dir").map(Pattern::quote).toList());
            // the server's groups name their fields as their flags: a field added without a flag fails here
            Stream.of(Options.Http.class, Options.Api.class).flatMap(c -> Arrays.stream(c.getRecordComponents()))
                    .map(LauncherTest::flagPattern).forEach(flags::add);
            for (String flag : flags) {
                assertTrue(Pattern.compile("(?m)^\\s+" + flag + "\\s").matcher(help).find(),
                        "--help lacks " + flag + ":\n" + help);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"--bogus 1", "--port abc", "--port 70000", "--dtype float64", "--max-model-len 0",
        "--max-model-len -5", "--device gpu", "--device cuda:x", "--threads", "serve --port 1"})
    void badCommandLineExitsWith2AndOneLine(String args) throws InterruptedException {
        try (Launched l = new Launched(workDir, Map.of(), args.split(" "))) {
            assertEquals(2, l.exitCode(), "exit code for " + args + "; stderr: " + l.stderr.join());
            String err = l.stderr.join().strip();
            assertEquals(1, err.lines().count(), "one line for " + args + ", got:\n" + err);
            String named = args.split(" ")[0];
            assertTrue(err.contains(named), "'" + err + "' should name " + named);
        }
    }

    @Test
    void environmentVariablesSetFlagsWithDashes() throws IOException, InterruptedException {
        // LORASERVE_MAX_MODEL_LEN is what a user writes; LORASERVE_SERVED_dash_MODEL_dash_NAME is Helidon's own
        // spelling of a dashed key. Both must reach the server.
        Map<String, String> env = Map.of("LORASERVE_PORT", "0", "LORASERVE_ADMIN_PORT", "0",
                "LORASERVE_MAX_MODEL_LEN", "40", "LORASERVE_SERVED_dash_MODEL_dash_NAME", "from-env");
        try (Launched l = new Launched(workDir, env, "--model", Fixtures.tinyModel().toString())) {
            Matcher ready = l.ready();
            assertEquals("from-env", ready.group(2));
            JsonObject model = getJson(Integer.parseInt(ready.group(1)), "/v1/models")
                    .getJsonArray("data").getJsonObject(0);
            assertEquals("from-env", model.getString("id"));
            assertEquals(40, model.getInt("max_model_len"));
        }
    }

    @Test
    void commandLineOverridesEnvironment() throws IOException, InterruptedException {
        Map<String, String> env = Map.of("LORASERVE_PORT", "0", "LORASERVE_ADMIN_PORT", "0",
                "LORASERVE_MAX_MODEL_LEN", "40");
        try (Launched l = new Launched(workDir, env, "--model", Fixtures.tinyModel().toString(),
                "--max-model-len", "64")) {
            int port = Integer.parseInt(l.ready().group(1));
            assertEquals(64, getJson(port, "/v1/models").getJsonArray("data").getJsonObject(0)
                    .getInt("max_model_len"));
        }
    }

    @Test
    void noArgumentsServesTheEmbeddedDemoModel() throws IOException, InterruptedException {
        Map<String, String> env = Map.of("LORASERVE_PORT", "0", "LORASERVE_ADMIN_PORT", "0");
        try (Launched l = new Launched(workDir, env)) {
            Matcher ready = l.ready();
            int port = Integer.parseInt(ready.group(1));
            JsonObject model = getJson(port, "/v1/models").getJsonArray("data").getJsonObject(0);
            assertEquals(ready.group(2), model.getString("id"));
            assertEquals(256, model.getInt("max_model_len"), "the demo model's context");
            assertEquals("UP", getJson(port, "/health/ready").getString("status"));
        }
    }
}
