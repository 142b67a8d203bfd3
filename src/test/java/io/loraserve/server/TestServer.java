package io.loraserve.server;

import io.helidon.config.Config;
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

/** A real loraserve on free ports, and a plain HTTP client for it. */
final class TestServer implements AutoCloseable {
    private static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    final LoraServer server;

    TestServer(Path model, String... extraArgs) {
        this(Path.of("").toAbsolutePath(), withModel(model, extraArgs));
    }

    private TestServer(Path home, List<String> args) {
        List<String> all = new ArrayList<>(List.of("--port", "0", "--admin-port", "0"));
        all.addAll(args);
        server = LoraServer.start(Options.parse(all.toArray(String[]::new), Config.empty()), home);
    }

    /** The server as {@code java -jar} starts it with no arguments (demo model and adapters under {@code home}). */
    static TestServer noArguments(Path home) {
        return new TestServer(home, List.of());
    }

    private static List<String> withModel(Path model, String... extraArgs) {
        List<String> args = new ArrayList<>(List.of("--model", model.toString()));
        args.addAll(List.of(extraArgs));
        return args;
    }

    /** A response: status, body text, and the body parsed when it is JSON. */
    record Reply(int status, String body, HttpResponse<String> raw) {
        JsonObject json() {
            try (JsonReader r = jakarta.json.Json.createReader(new StringReader(body))) {
                return r.readObject();
            }
        }

        JsonObject error() {
            return json().getJsonObject("error");
        }
    }

    Reply post(String path, String body) {
        return send(HttpRequest.newBuilder(uri(server.port(), path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build());
    }

    Reply get(String path) {
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

    /** Loads a fixture adapter through the admin API and checks it was created. */
    void loadAdapter(String name, Path dir) {
        Reply r = adminPost("/admin/adapters", "{\"name\":\"" + name + "\",\"path\":" + jakarta.json.Json.createValue(
                dir.toString()) + "}");
        if (r.status() != 201) {
            throw new AssertionError("loading " + name + ": " + r.status() + " " + r.body());
        }
    }

    static Reply send(HttpRequest request) {
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

    URI uri(String path) {
        return uri(server.port(), path);
    }

    static URI uri(int port, String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    @Override
    public void close() {
        server.close();
    }
}
