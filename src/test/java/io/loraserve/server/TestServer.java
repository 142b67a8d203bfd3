package io.loraserve.server;

import io.loraserve.Fixtures;
import io.loraserve.TestDevice;
import io.loraserve.config.OptionSource;
import io.loraserve.config.Options;
import io.loraserve.engine.EngineStats;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import java.io.IOException;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;

/** A real loraserve on free ports, and a plain HTTP client for it. */
public final class TestServer implements AutoCloseable {
    private static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private static final Executor ASYNC = Executors.newVirtualThreadPerTaskExecutor();
    public final LoraServer server;

    public TestServer(Path model, String... extraArgs) {
        this(Path.of("").toAbsolutePath(), withModel(model, extraArgs));
    }

    private TestServer(Path home, List<String> args) {
        List<String> all = new ArrayList<>(List.of("--port", "0", "--admin-port", "0"));
        all.addAll(TestDevice.serverArgs());  // a test's own flags, later, win
        all.addAll(args);
        server = LoraServer.start(Options.parse(all.toArray(String[]::new), OptionSource.NONE), home);
    }

    /** The server as {@code java -jar} starts it with no arguments (demo model and adapters under {@code home}). */
    static TestServer noArguments(Path home) {
        return new TestServer(home, List.of());
    }

    /** The demo server (model and adapters under {@code home}) with {@code args}. */
    static TestServer demo(Path home, String... args) {
        return new TestServer(home, List.of(args));
    }

    /** The fixture adapters, by the names the reference cases use. */
    static final List<String> FIXTURE_ADAPTERS = List.of("attn-r4", "all-r8-rslora", "mlp-r16-layer1-bf16");

    /** The tiny model with the three fixture adapters loaded through the admin API (room for four on the device). */
    static TestServer withFixtureAdapters(String... extraArgs) {
        List<String> args = new ArrayList<>(List.of("--adapter-root", Fixtures.tinyAdapters()
                .toString(), "--max-adapters", "4"));
        args.addAll(List.of(extraArgs));
        TestServer server = new TestServer(Fixtures.tinyModel(), args.toArray(String[]::new));
        for (String a : FIXTURE_ADAPTERS) {
            server.loadAdapter(a, Fixtures.tinyAdapter(a));
        }
        return server;
    }

    private static List<String> withModel(Path model, String... extraArgs) {
        List<String> args = new ArrayList<>(List.of("--model", model.toString()));
        args.addAll(List.of(extraArgs));
        return args;
    }

    /** A response: status, body text, and the body parsed when it is JSON. */
    public record Reply(int status, String body, HttpResponse<String> raw) {
        public JsonObject json() {
            return parse(body);
        }

        JsonObject error() {
            return json().getJsonObject("error");
        }
    }

    /** A streamed response: status, headers, and the payload of every {@code data:} event in order. */
    record Stream(int status, HttpResponse<?> raw, List<String> events) {
        /** The JSON chunks, after checking the stream ends with exactly one {@code [DONE]}. */
        List<JsonObject> chunks() {
            if (events.isEmpty() || !events.getLast().equals("[DONE]")) {
                throw new AssertionError("stream does not end with data: [DONE]: " + events);
            }
            return events.subList(0, events.size() - 1).stream().map(TestServer::parse).toList();
        }
    }

    /** POSTs {@code body} and reads the whole Server-Sent Events response. */
    Stream postStream(String path, String body) {
        try {
            HttpResponse<java.util.stream.Stream<String>> r = CLIENT.send(HttpRequest.newBuilder(uri(server.port(), path))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofLines());
            List<String> events = new ArrayList<>();
            r.body().filter(line -> line.startsWith("data: ")).forEach(line -> events.add(line.substring(6)));
            return new Stream(r.statusCode(), r, events);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    public static JsonObject parse(String json) {
        try (JsonReader r = jakarta.json.Json.createReader(new StringReader(json))) {
            return r.readObject();
        }
    }

    public Reply post(String path, String body) {
        return send(HttpRequest.newBuilder(uri(server.port(), path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build());
    }

    /** {@link #post} on a virtual thread of its own, so any number can wait on the engine at once. */
    public CompletableFuture<Reply> postAsync(String path, String body) {
        return CompletableFuture.supplyAsync(() -> post(path, body), ASYNC);
    }

    public Reply get(String path) {
        return send(HttpRequest.newBuilder(uri(server.port(), path)).GET().build());
    }

    Reply adminGet(String path) {
        return send(HttpRequest.newBuilder(uri(server.adminPort(), path)).GET().build());
    }

    Reply adminPost(String path, String body) {
        return send(HttpRequest.newBuilder(uri(server.adminPort(), path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build());
    }

    Reply adminDelete(String path) {
        return send(HttpRequest.newBuilder(uri(server.adminPort(), path)).DELETE().build());
    }

    /** An admin request with {@code headers} (name, value, …); a null body sends none. */
    Reply admin(String method, String path, String body, String... headers) {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri(server.adminPort(), path)).method(method,
                body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            b.header("Content-Type", "application/json");
        }
        if (headers.length > 0) {
            b.headers(headers);
        }
        return send(b.build());
    }

    /** POST /admin/adapters for {@code name} and {@code dir}, whatever the answer. */
    Reply postAdapter(String name, Path dir) {
        return adminPost("/admin/adapters", "{\"name\":" + BaseModelGoldenTest.quoted(name) + ",\"path\":"
                + BaseModelGoldenTest.quoted(dir.toString()) + "}");
    }

    /** Loads a fixture adapter through the admin API and checks it was created. */
    void loadAdapter(String name, Path dir) {
        Reply r = postAdapter(name, dir);
        if (r.status() != 201) {
            throw new AssertionError("loading " + name + ": " + r.status() + " " + r.body());
        }
    }

    public static Reply send(HttpRequest request) {
        try {
            HttpResponse<String> r = CLIENT.send(request, HttpResponse.BodyHandlers.ofString());
            return new Reply(r.statusCode(), r.body(), r);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /**
     * Waits up to {@code limit} for the engine to hold no sequence and no KV block (its stats are a
     * snapshot taken after each step, so they trail the last response by a step); returns them.
     */
    public EngineStats awaitEngineIdle(Duration limit) throws InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        EngineStats s = server.runtime().engine().stats();
        while ((s.running() + s.waiting() > 0 || s.kvBlocksUsed() > 0) && System.nanoTime() < deadline) {
            Thread.sleep(5);
            s = server.runtime().engine().stats();
        }
        return s;
    }

    public URI uri(String path) {
        return uri(server.port(), path);
    }

    public static URI uri(int port, String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    @Override
    public void close() {
        server.close();
    }
}
