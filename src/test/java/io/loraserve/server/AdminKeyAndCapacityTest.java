package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.lora.Adapter;
import java.net.http.HttpRequest;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A server started with {@code --admin-key} and a small {@code --max-cpu-adapter-bytes} (80,000: room for
 * all-r8-rslora's 74,752 bytes of host weights, not for attn-r4's 7,168 more). Every admin route wants the bearer
 * key, the public port never does, and a load beyond the host budget drops an idle adapter's host copy, or, when the
 * other copies are in use, is refused with the registry unchanged, also while a replaced version's requests still
 * hold its weights.
 */
class AdminKeyAndCapacityTest {
    private static final String KEY = "s3cret-key";
    private static final String[] AUTH = {"Authorization", "Bearer " + KEY};
    private static TestServer server;

    @BeforeAll
    static void start() {
        server = new TestServer(Fixtures.tinyModel(), "--adapter-root", Fixtures.tinyAdapter("attn-r4").getParent()
                .toString(), "--admin-key", KEY, "--max-cpu-adapter-bytes", "80000");
        TestServer.Reply r = server.admin("POST", "/admin/adapters", load("big", "all-r8-rslora"), AUTH);
        assertEquals(201, r.status(), r.body());
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    private static String load(String name, String fixture) {
        return "{\"name\":\"" + name + "\",\"path\":" + BaseModelGoldenTest.quoted(Fixtures.tinyAdapter(fixture)
                .toString()) + "}";
    }

    /** Each admin route with its method and a body that would succeed or fail only after authentication. */
    private record Route(String method, String path, String body) {}

    private static final List<Route> ROUTES = List.of(
            new Route("GET", "/admin/adapters", null),
            new Route("GET", "/admin/adapters/big", null),
            new Route("POST", "/admin/adapters", load("small", "attn-r4")),
            new Route("DELETE", "/admin/adapters/big", null),
            new Route("POST", "/admin/adapters/big/pin", ""),
            new Route("POST", "/admin/adapters/big/unpin", ""),
            new Route("POST", "/v1/load_lora_adapter", "{\"lora_name\":\"small\",\"lora_path\":"
                    + BaseModelGoldenTest.quoted(Fixtures.tinyAdapter("attn-r4").toString()) + "}"),
            new Route("POST", "/v1/unload_lora_adapter", "{\"lora_name\":\"big\"}"));

    @ParameterizedTest
    @ValueSource(strings = {"", "Bearer wrong-key", "Bearer s3cret-ke", "Bearer s3cret-key2", "Bearer",
                            "Basic czNjcmV0LWtleQ==", "s3cret-key"})
    void everyAdminRouteWithoutTheRightBearerKeyIs401AndChangesNothing(String authorization) {
        String listing = server.admin("GET", "/admin/adapters", null, AUTH).body();
        for (Route route : ROUTES) {
            String[] headers = authorization.isEmpty() ? new String[0] : new String[] {"Authorization", authorization};
            TestServer.Reply r = server.admin(route.method(), route.path(), route.body(), headers);
            assertEquals(401, r.status(), route + " with '" + authorization + "': " + r.body());
            assertEquals("invalid_api_key", r.error().getString("code"));
            assertTrue(r.error().getString("message").contains("Authorization: Bearer"), r.body());
        }
        assertEquals(listing, server.admin("GET", "/admin/adapters", null, AUTH).body());
    }

    @Test
    void theRightBearerKeyOpensTheAdminApi() {
        assertEquals(200, server.admin("GET", "/admin/adapters", null, AUTH).status());
        assertEquals(200, server.admin("POST", "/admin/adapters/big/pin", "", AUTH).status());
        assertEquals(200, server.admin("POST", "/admin/adapters/big/unpin", "", AUTH).status());
        assertEquals(200, server.admin("GET", "/admin/adapters", null, "Authorization", "bearer s3cret-key").status(),
                "the scheme name is case-insensitive (RFC 7235)");
    }

    /**
     * The admin port's /metrics follows the key like its other routes, however the path is spelled; its health probes
     * stay open for orchestrators; the public port's /metrics stays open for the inference gateway.
     */
    @Test
    void adminPortMetricsNeedTheKey() {
        for (String path : new String[] {"/metrics", "//metrics", "/./metrics", "/%6Detrics", "/x/../metrics"}) {
            for (String[] headers : new String[][] {{}, {"Authorization", "Bearer wrong-key"}}) {
                TestServer.Reply r = server.admin("GET", path, null, headers);
                assertEquals(401, r.status(), path + ": " + r.body());
                assertEquals("invalid_api_key", r.error().getString("code"));
            }
        }
        TestServer.Reply scrape = server.admin("GET", "/metrics", null, AUTH);
        assertEquals(200, scrape.status(), scrape.body());
        assertTrue(scrape.body().contains("loraserve_adapter_loaded{adapter=\"big\"}"), scrape.body());
        assertEquals(200, server.admin("GET", "/health/ready", null).status());
        assertEquals(200, server.admin("GET", "/health/live", null).status());
        assertEquals(200, server.get("/metrics").status());
    }

    @Test
    void thePublicPortNeedsNoKey() {
        TestServer.Reply models = server.get("/v1/models");
        assertEquals(200, models.status(), models.body());
        TestServer.Reply completion = server.post("/v1/completions",
                "{\"prompt\":\"Hello\",\"adapter\":\"big\",\"max_tokens\":2,\"temperature\":0}");
        assertEquals(200, completion.status(), completion.body());
    }

    @Test
    void thePublicPortServesNoAdminRoute() {
        for (Route route : ROUTES) {
            TestServer.Reply r = TestServer.send(HttpRequest.newBuilder(server.uri(route.path()))
                    .header("Content-Type", "application/json")
                    .method(route.method(), route.body() == null ? HttpRequest.BodyPublishers.noBody()
                            : HttpRequest.BodyPublishers.ofString(route.body()))
                    .header("Authorization", "Bearer " + KEY).build());
            assertEquals(404, r.status(), "public " + route + ": " + r.body());
        }
    }

    /** A replaced version's weights stay in memory until its last request ends, and count against the cap until then. */
    @Test
    void replaceWhileTheOldVersionRunsCountsItUntilItIsFreed() {
        Adapter running = server.server.runtime().registry().get("big").orElseThrow();
        String replace = "{\"replace\":true," + load("big", "all-r8-rslora").substring(1);
        CompletableFuture<TestServer.Reply> request;
        try (EnginePause pause = new EnginePause(server.server.runtime().engine())) {
            request = server.postAsync("/v1/completions",
                    "{\"prompt\":\"Hello\",\"adapter\":\"big\",\"max_tokens\":2,\"temperature\":0}");
            EnginePause.await(() -> running.inFlight() == 1 && !running.tier().equals("disk"),
                    "the request holds the adapter, its host copy read again if another load had dropped it");
            String listing = server.admin("GET", "/admin/adapters", null, AUTH).body();
            TestServer.Reply refused = server.admin("POST", "/admin/adapters", replace, AUTH);
            assertEquals(507, refused.status(), refused.body());
            assertEquals("adapter_capacity", refused.error().getString("code"));
            assertTrue(refused.error().getString("message").contains("the version it replaces counts until its 1"
                    + " running requests end"), refused.body());
            assertEquals(listing, server.admin("GET", "/admin/adapters", null, AUTH).body());
        }
        assertEquals(200, request.join().status());
        EnginePause.await(() -> running.inFlight() == 0, "the request let go of the adapter");
        TestServer.Reply replaced = server.admin("POST", "/admin/adapters", replace, AUTH);
        assertEquals(201, replaced.status(), "an idle version is freed by the replace itself: " + replaced.body());
        assertTrue(running.freed());
    }

    @Test
    void loadBeyondMaxCpuAdapterBytesWhileTheOtherCopyIsInUseIsRefusedAndChangesNothing() {
        Adapter big = server.server.runtime().registry().acquire("big");  // a running request's hold
        try {
            String listing = server.admin("GET", "/admin/adapters", null, AUTH).body();
            TestServer.Reply r = server.admin("POST", "/admin/adapters", load("small", "attn-r4"), AUTH);
            assertEquals(507, r.status(), r.body());
            assertEquals("adapter_capacity", r.error().getString("code"));
            String message = r.error().getString("message");
            for (String mention : new String[] {"'small'", "7168 bytes", "--max-cpu-adapter-bytes 80000",
                                                "in use by running requests"}) {
                assertTrue(message.contains(mention), "'" + mention + "' not in: " + message);
            }
            assertEquals(listing, server.admin("GET", "/admin/adapters", null, AUTH).body());
        } finally {
            big.release();
        }
    }

    @Test
    void loadBeyondMaxCpuAdapterBytesDropsTheIdleCopyWhichServesAgainFromDisk() {
        TestServer.Reply r = server.admin("POST", "/admin/adapters", load("small", "attn-r4"), AUTH);
        try {
            assertEquals(201, r.status(), r.body());
            assertEquals("disk", server.server.runtime().registry().get("big").orElseThrow().tier());
            assertTrue(server.server.runtime().registry().hostBytes() <= 80_000);
            TestServer.Reply completion = server.post("/v1/completions",
                    "{\"prompt\":\"Hello\",\"adapter\":\"big\",\"max_tokens\":2,\"temperature\":0}");
            assertEquals(200, completion.status(), completion.body());
            assertEquals("disk", server.server.runtime().registry().get("small").orElseThrow().tier(),
                    "reading big again dropped small's idle copy");
        } finally {
            server.admin("DELETE", "/admin/adapters/small", null, AUTH);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"//admin/adapters", "/admin//adapters", "/./admin/adapters", "/%61dmin/adapters",
                            "/admin/adapters/", "/x/../admin/adapters", "/admin/adapters/big/../big/pin"})
    void otherSpellingsOfAnAdminPathStillNeedTheKey(String path) {
        for (String method : new String[] {"GET", "POST", "DELETE"}) {
            TestServer.Reply r = server.admin(method, path, method.equals("POST") ? "" : null);
            assertEquals(401, r.status(), method + " " + path + ": " + r.body());
        }
    }
}
