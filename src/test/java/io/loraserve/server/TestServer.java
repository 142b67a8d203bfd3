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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;

/** A real loraserve on free ports, and a plain HTTP client for it. */
final class TestServer implements AutoCloseable {
    private static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private static final Executor ASYNC = Executors.newVirtualThreadPerTaskExecutor();
    final LoraServer server;

    TestServer(Path model, String... extraArgs) {
        List<String> args = new ArrayList<>(List.of("--model", model.toString(), "--port", "0", "--admin-port", "0"));
        args.addAll(List.of(extraArgs));
        server = LoraServer.start(Options.parse(args.toArray(String[]::new), Config.empty()), Path.of("").toAbsolutePath());
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

    /** {@link #post} on a virtual thread of its own, so any number can wait on the engine at once. */
    CompletableFuture<Reply> postAsync(String path, String body) {
        return CompletableFuture.supplyAsync(() -> post(path, body), ASYNC);
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
