package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.lora.SavedCatalogue;
import jakarta.json.JsonObject;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --state-dir}: the adapters registered, pinned and unloaded over the admin API come back after a restart or a
 * {@code kill -9}, serving the same text; a damaged state file or a vanished adapter costs a log line, not the start.
 * (That {@code kill -9} at any instant leaves an acknowledged state is {@code CatalogueCrashTest}'s.)
 */
class StateDirTest {
    @TempDir
    Path state;
    /** Held here: java.util.logging keeps loggers only weakly, and a new one would not have the handler. */
    private final Logger catalogueLog = Logger.getLogger(SavedCatalogue.class.getName());
    private final List<LogRecord> log = new CopyOnWriteArrayList<>();
    private final Handler capture = new Handler() {
        @Override
        public void publish(LogRecord r) {
            log.add(r);
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };

    @BeforeEach
    void captureLog() {
        catalogueLog.addHandler(capture);
    }

    @AfterEach
    void releaseLog() {
        catalogueLog.removeHandler(capture);
    }

    private TestServer start(Path root, String... flags) {
        List<String> args = new ArrayList<>(List.of("--adapter-root", root.toString(), "--max-adapters", "4",
                "--state-dir", state.toString()));
        args.addAll(List.of(flags));
        return new TestServer(Fixtures.tinyModel(), args.toArray(String[]::new));
    }

    /** Name → "path pinned" of every adapter the admin API lists. */
    private static Map<String, String> catalogue(TestServer server) {
        Map<String, String> out = new LinkedHashMap<>();
        for (JsonObject a : server.adminGet("/admin/adapters").json().getJsonArray("data").getValuesAs(JsonObject.class)) {
            out.put(a.getString("name"), a.getString("path") + " pinned=" + a.getBoolean("pinned"));
        }
        return out;
    }

    /** Each adapter's greedy text for one prompt. */
    private static Map<String, String> generations(TestServer server, Iterable<String> adapters) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String adapter : adapters) {
            TestServer.Reply r = server.post("/v1/completions", "{\"prompt\":\"Hello, world\",\"max_tokens\":8,"
                    + "\"temperature\":0,\"model\":\"" + adapter + "\"}");
            assertEquals(200, r.status(), r.body());
            out.put(adapter, r.json().getJsonArray("choices").getJsonObject(0).getString("text"));
        }
        return out;
    }

    private static void ok(TestServer.Reply r) {
        assertTrue(r.status() / 100 == 2, r.status() + " " + r.body());
    }

    private List<String> messages(Level level) {
        return log.stream().filter(r -> r.getLevel() == level).map(LogRecord::getMessage).toList();
    }

    @Test
    void adminChangesComeBackAfterARestartPinnedAsTheyWereAndServingTheSameText() {
        Map<String, String> before;
        Map<String, String> texts;
        try (TestServer server = start(Fixtures.tinyAdapters())) {
            for (String a : TestServer.FIXTURE_ADAPTERS) {
                server.loadAdapter(a, Fixtures.tinyAdapter(a));
            }
            server.loadAdapter("second", Fixtures.tinyAdapter("attn-r4"));
            ok(server.adminPost("/admin/adapters/all-r8-rslora/pin", ""));
            ok(server.adminPost("/admin/adapters/second/pin", ""));
            ok(server.adminPost("/admin/adapters/second/unpin", ""));
            ok(server.adminDelete("/admin/adapters/mlp-r16-layer1-bf16"));
            ok(server.adminPost("/v1/load_lora_adapter", "{\"lora_name\":\"third\",\"lora_path\":\""
                    + Fixtures.tinyAdapter("mlp-r16-layer1-bf16") + "\"}"));
            ok(server.adminPost("/v1/unload_lora_adapter", "{\"lora_name\":\"third\"}"));
            before = catalogue(server);
            texts = generations(server, before.keySet());
        }
        assertEquals(List.of("all-r8-rslora", "attn-r4", "second"), List.copyOf(before.keySet()));
        assertTrue(before.get("all-r8-rslora").endsWith("pinned=true"), before.toString());
        try (TestServer server = start(Fixtures.tinyAdapters())) {
            assertEquals(200, server.get("/health/ready").status());
            assertEquals(before, catalogue(server));
            assertEquals(texts, generations(server, before.keySet()));
        }
        assertEquals(List.of(), messages(Level.WARNING));
    }

    @Test
    void aKilledServerRestartsWithEveryAcknowledgedChange(@TempDir Path logs) throws Exception {
        Path root = Fixtures.tinyAdapters();
        int adminPort;
        try (ServerSocket free = new ServerSocket(0)) {
            adminPort = free.getLocalPort();
        }
        Process p = ServerProcess.start(logs, List.of("--model", Fixtures.tinyModel().toString(), "--port", "0",
                "--admin-port", String.valueOf(adminPort), "--adapter-root", root.toString(), "--state-dir",
                state.toString())).process();
        try {
            for (String a : TestServer.FIXTURE_ADAPTERS) {
                ok(TestServer.send(java.net.http.HttpRequest.newBuilder(TestServer.uri(adminPort, "/admin/adapters"))
                        .header("Content-Type", "application/json").POST(java.net.http.HttpRequest.BodyPublishers
                                .ofString("{\"name\":\"" + a + "\",\"path\":\"" + root.resolve(a) + "\"}")).build()));
            }
            ok(TestServer.send(java.net.http.HttpRequest.newBuilder(TestServer.uri(adminPort,
                    "/admin/adapters/attn-r4/pin")).POST(java.net.http.HttpRequest.BodyPublishers.noBody()).build()));
        } finally {
            p.toHandle().destroyForcibly();  // kill -9, right after the last acknowledged change
            p.waitFor(30, TimeUnit.SECONDS);
        }
        try (TestServer server = start(root)) {
            Map<String, String> after = catalogue(server);
            assertEquals(TestServer.FIXTURE_ADAPTERS.stream().sorted().toList(), List.copyOf(after.keySet()));
            assertTrue(after.get("attn-r4").endsWith("pinned=true"), after.toString());
            assertTrue(after.get("all-r8-rslora").endsWith("pinned=false"), after.toString());
        }
    }

    @Test
    void aCorruptStateFileIsSetAsideWithAWarningAndTheServerStarts() throws IOException {
        Files.writeString(state.resolve("state.json"), "{\"version\":1,\"adapters\":[{\"name\":\"a");
        try (TestServer server = start(Fixtures.tinyAdapters(), "--adapter", "attn-r4=" + Fixtures.tinyAdapter("attn-r4"))) {
            assertEquals(200, server.get("/health/ready").status());
            assertEquals(List.of("attn-r4"), List.copyOf(catalogue(server).keySet()));
        }
        List<Path> aside;
        try (Stream<Path> files = Files.list(state)) {
            aside = files.filter(f -> f.getFileName().toString().startsWith("state.json.corrupt-")).toList();
        }
        assertEquals(1, aside.size());
        assertEquals("{\"version\":1,\"adapters\":[{\"name\":\"a", Files.readString(aside.get(0)));
        List<String> warnings = messages(Level.WARNING);
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.get(0).contains("cannot be used") && warnings.get(0).contains(aside.get(0).toString()),
                warnings.get(0));
        assertTrue(Files.readString(state.resolve("state.json")).contains("attn-r4"), "a good file replaces it");
    }

    @Test
    void savedAdaptersWhoseFilesVanishedOrChangedAreSkippedAndTheRestRestored(@TempDir Path root) throws IOException {
        for (String a : TestServer.FIXTURE_ADAPTERS) {
            Files.createDirectories(root.resolve(a));
            for (String f : List.of("adapter_config.json", "adapter_model.safetensors")) {
                Files.copy(Fixtures.tinyAdapter(a).resolve(f), root.resolve(a).resolve(f));
            }
        }
        try (TestServer server = start(root)) {
            for (String a : TestServer.FIXTURE_ADAPTERS) {
                server.loadAdapter(a, root.resolve(a));
            }
        }
        try (Stream<Path> files = Files.list(root.resolve("attn-r4"))) {
            for (Path f : files.toList()) {
                Files.delete(f);
            }
        }
        Files.delete(root.resolve("attn-r4"));
        Files.writeString(root.resolve("all-r8-rslora/adapter_config.json"), "\n", StandardOpenOption.APPEND);
        try (TestServer server = start(root)) {
            assertEquals(List.of("mlp-r16-layer1-bf16"), List.copyOf(catalogue(server).keySet()));
        }
        List<String> warnings = messages(Level.WARNING);
        assertEquals(2, warnings.size(), warnings.toString());
        assertTrue(warnings.stream().anyMatch(w -> w.contains("'attn-r4'") && w.contains("does not exist")),
                warnings.toString());
        assertTrue(warnings.stream().anyMatch(w -> w.contains("'all-r8-rslora'") && w.contains("changed since")),
                warnings.toString());
    }

    @Test
    void theCommandLineWinsOnANameClashAndASavedPinStaysWithTheSameDirectory() throws IOException {
        Path root = Fixtures.tinyAdapters();
        try (TestServer server = start(root)) {
            server.loadAdapter("x", Fixtures.tinyAdapter("attn-r4"));
            server.loadAdapter("y", Fixtures.tinyAdapter("attn-r4"));
            ok(server.adminPost("/admin/adapters/x/pin", ""));
            ok(server.adminPost("/admin/adapters/y/pin", ""));
        }
        try (TestServer server = start(root, "--adapter", "x=" + Fixtures.tinyAdapter("all-r8-rslora"),
                "--adapter", "y=" + Fixtures.tinyAdapter("attn-r4"))) {
            Map<String, String> now = catalogue(server);
            assertEquals(Fixtures.tinyAdapter("all-r8-rslora").toRealPath() + " pinned=false", now.get("x"));
            assertEquals(Fixtures.tinyAdapter("attn-r4").toRealPath() + " pinned=true", now.get("y"));
        }
        List<String> warnings = messages(Level.WARNING);
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.get(0).contains("'x'") && warnings.get(0).contains("--adapter wins"), warnings.get(0));
    }

    @Test
    void aChangeThatCannotBeSavedIsAnsweredWithA500SayingSo() throws IOException {
        try (TestServer server = start(Fixtures.tinyAdapters())) {
            try (Stream<Path> files = Files.list(state)) {
                for (Path f : files.toList()) {
                    Files.delete(f);
                }
            }
            Files.delete(state);
            TestServer.Reply r = server.postAdapter("attn-r4", Fixtures.tinyAdapter("attn-r4"));
            assertEquals(500, r.status(), r.body());
            assertEquals("state_not_saved", r.error().getString("code"));
            assertTrue(r.error().getString("message").contains("a restart would lose it"), r.body());
            assertEquals(List.of("attn-r4"), List.copyOf(catalogue(server).keySet()), "the change stands");
        }
    }

    @Test
    void aSecondServerOnTheSameStateDirIsRefused() {
        try (TestServer first = start(Fixtures.tinyAdapters())) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> start(Fixtures.tinyAdapters())
                    .close());
            assertTrue(e.getMessage().contains("in use by another loraserve"), e.getMessage());
            assertEquals(200, first.get("/health/ready").status());
        }
    }
}
