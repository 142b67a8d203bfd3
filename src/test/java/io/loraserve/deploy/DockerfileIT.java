package io.loraserve.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Dockerfile without Docker (no daemon runs where tests run). After {@code mvn verify} has
 * packaged the jar (a superset of the build stage's command), this replays the runtime stage on
 * the host: lays out its WORKDIR with its COPY lines, sets its ENV, starts its ENTRYPOINT + CMD
 * (plus free ports, so it never collides with another server here) with the image's default demo
 * model and adapters, runs its HEALTHCHECK
 * and scrapes {@code /metrics}. Instructions that only change the OS image (RUN, the JRE copy)
 * are not replayed.
 */
class DockerfileIT {
    /** The launcher's build command ({@code ./loraserve}), which the build stage must run, with the profile. */
    private static final String BUILD_COMMAND = "mvn -B -ntp -Pcpu -DskipTests package";
    /** The launcher's run command, which ENTRYPOINT must be. */
    private static final List<String> RUN_COMMAND = List.of("java", "--enable-native-access=ALL-UNNAMED",
            "--add-modules", "jdk.incubator.vector", "-jar", "target/loraserve.jar");
    private static final Pattern READY = Pattern.compile("loraserve listening on http://\\S+:(\\d+) ");

    /** One instruction: its keyword and the rest of its (joined) line. */
    private record Instruction(String keyword, String args) {
    }

    /** One stage: its name (after AS, or empty) and instructions. */
    private record Stage(String name, List<Instruction> instructions) {
        List<String> all(String keyword) {
            return instructions.stream().filter(i -> i.keyword().equals(keyword)).map(Instruction::args).toList();
        }

        String one(String keyword) {
            List<String> found = all(keyword);
            assertEquals(1, found.size(), "one " + keyword + " in stage " + name);
            return found.get(0);
        }
    }

    private final Path root = Path.of("").toAbsolutePath();
    private final Map<String, String> args = new HashMap<>();
    private final List<Stage> stages = parse(root.resolve("Dockerfile"));

    @Test
    void buildStageRunsTheReadmeBuildCommandOnFilesInTheRepository() {
        Stage build = stage("build");
        assertEquals(List.of(BUILD_COMMAND), build.all("RUN").stream().map(this::expandArgs).toList());
        for (String copy : build.all("COPY")) {
            String source = copy.split("\\s+")[0];
            assertTrue(Files.exists(root.resolve(source)), "the build stage copies " + source + ", which exists");
        }
    }

    @Test
    void runtimeStageRunsAsAnUnprivilegedUserAndExposesTheDefaultPorts() {
        Stage runtime = stages.get(stages.size() - 1);
        String user = runtime.one("USER");
        assertFalse(user.equals("root") || user.equals("0"), "USER " + user);
        assertEquals("8000 8001", runtime.one("EXPOSE"));
        assertEquals(RUN_COMMAND, jsonArray(runtime.one("ENTRYPOINT")));
        assertTrue(runtime.one("HEALTHCHECK").contains("/health/ready"));
    }

    @Test
    void runtimeStageServesWhenReplayedOnTheHost(@TempDir Path tmp) throws Exception {
        Stage runtime = stages.get(stages.size() - 1);
        Path app = tmp.resolve(runtime.one("WORKDIR").substring(1));
        Files.createDirectories(app);
        for (String copy : runtime.all("COPY")) {
            replayCopy(copy, app);
        }
        Map<String, String> env = new LinkedHashMap<>();
        for (String line : runtime.all("ENV")) {
            Matcher m = Pattern.compile("([A-Z_]+)=(\"[^\"]*\"|\\S+)").matcher(line);
            while (m.find()) {
                env.put(m.group(1), m.group(2).replaceAll("^\"|\"$", ""));
            }
        }
        int port = freePort();
        int adminPort = freePort();
        List<String> command = new ArrayList<>(jsonArray(runtime.one("ENTRYPOINT")));
        command.set(0, Path.of(System.getProperty("java.home"), "bin", command.get(0)).toString());
        command.addAll(jsonArray(runtime.one("CMD")));
        command.addAll(List.of("--port", Integer.toString(port), "--admin-port", Integer.toString(adminPort)));

        ProcessBuilder pb = new ProcessBuilder(command).directory(app.toFile()).redirectErrorStream(true);
        env.forEach((k, v) -> {
            if (k.startsWith("LORASERVE_") || k.equals("JAVA_TOOL_OPTIONS")) {
                pb.environment().put(k, v);
            }
        });
        Process server = pb.start();
        try {
            // Read on a thread of its own: the common pool may be one busy thread on a 2-core machine.
            StringBuilder output = new StringBuilder();
            CompletableFuture<String> ready = new CompletableFuture<>();
            Thread.ofVirtual().start(() -> {
                try {
                    ready.complete(readyLine(server, output));
                } catch (RuntimeException | Error e) {
                    ready.completeExceptionally(e);
                }
            });
            String line;
            try {
                line = ready.get(120, TimeUnit.SECONDS);
            } catch (java.util.concurrent.TimeoutException e) {
                synchronized (output) {
                    throw new AssertionError("no ready line within 120 s; the server printed:\n" + output, e);
                }
            }
            assertNotNull(line, "the server printed its ready line");
            assertEquals(port, Integer.parseInt(READY.matcher(line).results().findFirst().orElseThrow().group(1)));

            String check = runtime.one("HEALTHCHECK").replaceFirst("^.*?\\bCMD\\s+", "")
                    .replace(":8001/", ":" + adminPort + "/");
            Process health = new ProcessBuilder("sh", "-c", check).redirectErrorStream(true).start();
            String out = new String(health.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(0, health.waitFor(), "HEALTHCHECK " + check + ": " + out);

            HttpResponse<String> metrics = HttpClient.newHttpClient().send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics")).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            assertTrue(metrics.body().contains("\nvllm:num_requests_waiting{"), "metrics are served");
            assertTrue(metrics.body().contains("\nloraserve_adapter_loaded{adapter=\"code\"} 1.0"),
                    "the demo adapters are loaded");
        } finally {
            server.destroy();
            server.waitFor(20, TimeUnit.SECONDS);
        }
    }

    /** {@code COPY [--from=build] SRC DST}: build outputs come from the project's target/, context files from the project. */
    private void replayCopy(String copy, Path app) throws IOException {
        List<String> parts = new ArrayList<>(List.of(copy.split("\\s+")));
        String from = parts.get(0).startsWith("--from=") ? parts.remove(0).substring("--from=".length()) : null;
        if (from != null && !from.equals("build")) {
            return;  // an OS-level copy (the JRE): the host's java stands in
        }
        String src = parts.get(0);
        Path source = from == null ? root.resolve(src)
                : root.resolve(Path.of(stage("build").one("WORKDIR")).relativize(Path.of(src)).toString());
        Path target = app.resolve(parts.get(1));
        assertTrue(Files.exists(source), "COPY source " + source + " exists (run after mvn package)");
        copyTree(source, target);
    }

    private static void copyTree(Path source, Path target) throws IOException {
        try (Stream<Path> files = Files.walk(source)) {
            for (Path p : files.toList()) {
                Path t = target.resolve(source.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(t);
                } else {
                    Files.createDirectories(t.getParent());
                    Files.copy(p, t, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }

    /**
     * Reads the server's output up to its ready line, then hands the reader to a drain thread,
     * which owns and closes it. (Closing it here raced with the drain thread's blocking read:
     * close() waited for the reader's lock while the server had nothing more to print.)
     */
    private static String readyLine(Process server, StringBuilder log) {
        BufferedReader r = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8));
        try {
            for (String line; (line = r.readLine()) != null; ) {
                if (READY.matcher(line).find()) {
                    Thread.ofVirtual().start(() -> drain(r));
                    return line;
                }
                synchronized (log) {
                    log.append(line).append('\n');
                }
            }
            r.close();
            throw new AssertionError("the server exited before it was ready:\n" + log);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void drain(BufferedReader r) {
        try (r) {
            while (r.readLine() != null) {
                // keep the pipe empty so the server never blocks on its log
            }
        } catch (IOException ignored) {
            // the server was stopped
        }
    }

    private Stage stage(String name) {
        return stages.stream().filter(s -> s.name().equals(name)).findFirst().orElseThrow();
    }

    private String expandArgs(String text) {
        String out = text;
        for (Map.Entry<String, String> a : args.entrySet()) {
            out = out.replace("${" + a.getKey() + "}", a.getValue());
        }
        return out;
    }

    private static List<String> jsonArray(String exec) {
        Matcher m = Pattern.compile("\"([^\"]*)\"").matcher(exec);
        List<String> out = new ArrayList<>();
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }

    /** Instructions with continuation lines joined and comments dropped, split into stages; records ARG defaults. */
    private List<Stage> parse(Path dockerfile) {
        List<Stage> out = new ArrayList<>();
        List<String> lines;
        try {
            lines = Files.readAllLines(dockerfile);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        StringBuilder joined = new StringBuilder();
        Stage current = null;
        for (String raw : lines) {
            String line = raw.strip();
            if (line.startsWith("#") || (line.isEmpty() && joined.isEmpty())) {
                continue;
            }
            if (line.endsWith("\\")) {
                joined.append(line, 0, line.length() - 1).append(' ');
                continue;
            }
            String text = joined.append(line).toString().strip().replaceAll("\\s+", " ");
            joined.setLength(0);
            int space = text.indexOf(' ');
            Instruction i = new Instruction(text.substring(0, space), text.substring(space + 1));
            if (i.keyword().equals("FROM")) {
                String[] from = i.args().split(" ");
                current = new Stage(from.length == 3 ? from[2] : "", new ArrayList<>());
                out.add(current);
            } else if (i.keyword().equals("ARG") && i.args().contains("=")) {
                args.put(i.args().substring(0, i.args().indexOf('=')), i.args().substring(i.args().indexOf('=') + 1));
            } else if (current != null) {
                current.instructions().add(i);
            }
        }
        return out;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
