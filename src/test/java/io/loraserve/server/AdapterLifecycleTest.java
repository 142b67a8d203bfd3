package io.loraserve.server;

import static io.loraserve.server.BaseModelGoldenTest.quoted;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.engine.Engine;
import io.loraserve.lora.Adapter;
import io.loraserve.lora.AdapterRegistry;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Adapters changing under running requests, over real HTTP: replace, unload, pin and unpin while requests decode,
 * vLLM's load/unload, and how /v1/completions and /v1/models name adapters.
 * Every output is checked against the fixture references of the adapter whose weights it must have used.
 *
 * <p>To change an adapter at a known point, a test pauses the engine between two steps ({@link EnginePause}), with
 * the requests that must keep the old weights admitted and decoding (they ask for {@link #LONG} tokens, of which the
 * first 24 are compared), then queues the new requests, resumes, and checks both groups.
 */
class AdapterLifecycleTest {
    /** Tokens a long request asks for: the longest prompt (20) plus this fits the tiny model's 256 positions. */
    private static final int LONG = 200;
    private static TestServer server;
    private static AdapterRegistry registry;
    private static Engine engine;

    @BeforeAll
    static void start() {
        // libtorch kernels: pins, unpins and unloads must land while requests still decode, and the
        // Java kernels finish the tiny model's 64-token requests before the test can pause the engine
        server = new TestServer(Fixtures.tinyModel(), "--adapter-root", Fixtures.tinyAdapter("attn-r4").getParent()
                .toString(), "--max-adapters", "4", "--kernels", "torch");
        registry = server.server.runtime().registry();
        engine = server.server.runtime().engine();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static List<Fixtures.Case> casesOf(String adapter) {
        return Fixtures.tinyCases().stream().filter(c -> Objects.equals(c.adapter(), adapter)).toList();
    }

    /** A greedy request for {@code c}'s prompt on adapter {@code name} (null = base), {@code maxTokens} long. */
    static String body(Fixtures.Case c, String name, int maxTokens) {
        return "{\"prompt\":" + quoted(c.prompt()) + (name == null ? "" : ",\"adapter\":\"" + name + "\"")
                + ",\"max_tokens\":" + maxTokens + ",\"temperature\":0,\"ignore_eos\":true,\"logprobs\":0,"
                + "\"return_token_ids\":true}";
    }

    /** The reply's first tokens and logprobs are {@code c}'s reference. */
    static void assertStartsWithReference(Fixtures.Case c, TestServer.Reply reply, String what) {
        assertEquals(200, reply.status(), what + ": " + reply.body());
        JsonObject choice = reply.json().getJsonArray("choices").getJsonObject(0);
        int[] tokens = choice.getJsonArray("token_ids").getValuesAs(JsonNumber.class).stream()
                .mapToInt(JsonNumber::intValue).limit(c.tokens().length).toArray();
        assertArrayEquals(c.tokens(), tokens, what + " should match " + c.label());
        var lps = choice.getJsonObject("logprobs").getJsonArray("token_logprobs").getValuesAs(JsonNumber.class);
        for (int i = 0; i < c.logprobs().length; i++) {
            assertEquals(c.logprobs()[i], lps.get(i).doubleValue(), 1e-3, what + " logprob " + i);
        }
    }

    private static List<CompletableFuture<TestServer.Reply>> send(List<Fixtures.Case> cases, String name,
            int maxTokens) {
        return cases.stream().map(c -> server.postAsync("/v1/completions", body(c, name, maxTokens))).toList();
    }

    /**
     * Pauses the engine once {@code adapter}'s {@code n} requests have arrived, nothing waits for admission, and a few
     * more steps have run, so they are decoding.
     */
    private static EnginePause pauseWhileDecoding(Adapter adapter, int n) {
        EnginePause.await(() -> adapter.inFlight() == n && engine.stats().waiting() == 0,
                n + " requests on " + adapter.name() + " are admitted");
        long steps = engine.stats().steps();
        EnginePause.await(() -> engine.stats().steps() >= steps + 3, "three more steps");
        EnginePause pause = new EnginePause(engine);
        try {
            assertEquals(n, adapter.inFlight(), "the requests on " + adapter.name() + " are still running");
        } catch (AssertionError e) {
            pause.close();
            throw e;
        }
        return pause;
    }

    @Test
    void replacingAPinnedAdapterKeepsItPinnedOnTheNewWeights() {
        server.loadAdapter("pinswap", Fixtures.tinyAdapter("attn-r4"));
        assertEquals(200, server.adminPost("/admin/adapters/pinswap/pin", "").status());
        TestServer.Reply r = server.adminPost("/admin/adapters", "{\"name\":\"pinswap\",\"replace\":true,\"path\":"
                + quoted(Fixtures.tinyAdapter("all-r8-rslora").toString()) + "}");
        assertEquals(201, r.status(), r.body());
        assertTrue(r.json().getBoolean("pinned"), "the new version is pinned too: " + r.body());
        assertTrue(registry.get("pinswap").orElseThrow().pinned());
        for (Fixtures.Case c : casesOf("all-r8-rslora")) {
            TestServer.Reply reply = server.post("/v1/completions", body(c, "pinswap", c.tokens().length));
            BaseModelGoldenTest.assertMatches(c, LoraGoldenTest.firstChoice(reply));
        }
        assertEquals(200, server.adminDelete("/admin/adapters/pinswap").status());
    }

    @Test
    void replaceWhileRequestsRunKeepsThemOnTheOldWeightsAndGivesNewRequestsTheNew() {
        server.loadAdapter("swap", Fixtures.tinyAdapter("attn-r4"));
        Adapter old = registry.get("swap").orElseThrow();
        List<CompletableFuture<TestServer.Reply>> running = send(casesOf("attn-r4"), "swap", LONG);
        List<CompletableFuture<TestServer.Reply>> fresh;
        Adapter replacement;
        try (EnginePause pause = pauseWhileDecoding(old, 4)) {
            TestServer.Reply r = server.adminPost("/admin/adapters", "{\"name\":\"swap\",\"replace\":true,\"path\":"
                    + quoted(Fixtures.tinyAdapter("all-r8-rslora").toString()) + "}");
            assertEquals(201, r.status(), r.body());
            assertTrue(r.json().getString("path").endsWith("all-r8-rslora"), r.body());
            replacement = registry.get("swap").orElseThrow();
            fresh = send(casesOf("all-r8-rslora"), "swap", 24);
            EnginePause.await(() -> replacement.inFlight() == 4, "the new requests hold the new version");
            assertEquals(4, old.inFlight());
            assertFalse(old.freed());
        }
        List<Fixtures.Case> oldCases = casesOf("attn-r4");
        List<Fixtures.Case> newCases = casesOf("all-r8-rslora");
        for (int i = 0; i < 4; i++) {
            assertStartsWithReference(oldCases.get(i), running.get(i).join(), "running before the replace");
            assertStartsWithReference(newCases.get(i), fresh.get(i).join(), "sent after the replace");
        }
        assertTrue(old.freed(), "the old version is freed once its last request ends");
        assertFalse(replacement.freed());
        assertEquals(200, server.adminDelete("/admin/adapters/swap").status());
    }

    @Test
    void unloadWhileInUseFinishesRunningRequestsRefusesNewOnesAndFreesAfterTheLast() {
        long hostBytes = registry.hostBytes();
        server.loadAdapter("leaving", Fixtures.tinyAdapter("mlp-r16-layer1-bf16"));
        Adapter leaving = registry.get("leaving").orElseThrow();
        List<Fixtures.Case> cases = casesOf("mlp-r16-layer1-bf16");
        List<CompletableFuture<TestServer.Reply>> running = send(cases, "leaving", LONG);
        try (EnginePause pause = pauseWhileDecoding(leaving, 4)) {
            TestServer.Reply unload = server.adminDelete("/admin/adapters/leaving");
            assertEquals(200, unload.status(), unload.body());
            assertEquals("unloading", unload.json().getString("state"));
            TestServer.Reply late = server.post("/v1/completions", body(cases.get(0), "leaving", 4));
            assertEquals(404, late.status(), late.body());
            assertEquals("adapter_not_found", late.error().getString("code"));
            assertFalse(server.adminGet("/admin/adapters").body().contains("\"leaving\""));
            assertFalse(server.get("/v1/models").body().contains("\"leaving\""));
            assertFalse(leaving.freed(), "running requests still hold it");
        }
        for (int i = 0; i < 4; i++) {
            assertStartsWithReference(cases.get(i), running.get(i).join(), "running during the unload");
        }
        assertTrue(leaving.freed(), "freed when the last running request ended");
        assertEquals(hostBytes, registry.hostBytes(), "host bytes returned");
    }

    @Test
    void pinAndUnpinWhileRequestsRunChangeNoResult() {
        List<String> adapters = List.of("attn-r4", "all-r8-rslora", "mlp-r16-layer1-bf16");
        adapters.forEach(a -> server.loadAdapter("pin-" + a, Fixtures.tinyAdapter(a)));
        List<Fixtures.Case> cases = Fixtures.tinyCases();
        List<CompletableFuture<TestServer.Reply>> replies = cases.stream()
                .map(c -> server.postAsync("/v1/completions", body(c, c.adapter() == null ? null : "pin-" + c.adapter(),
                        64)))
                .toList();
        Adapter first = registry.get("pin-attn-r4").orElseThrow();
        try (EnginePause pause = pauseWhileDecoding(first, 4)) {
            adapters.forEach(a -> engine.pin(registry.get("pin-" + a).orElseThrow()));
        }
        try (EnginePause pause = pauseWhileDecoding(first, 4)) {
            assertTrue(first.pinned(), "pinned while its requests run");
            adapters.forEach(a -> engine.unpin(registry.get("pin-" + a).orElseThrow()));
        }
        for (int i = 0; i < cases.size(); i++) {
            assertStartsWithReference(cases.get(i), replies.get(i).join(), "pinned and unpinned mid-generation");
        }
        adapters.forEach(a -> assertEquals(200, server.adminDelete("/admin/adapters/pin-" + a).status()));
    }

    @Test
    void vllmLoadAndUnloadEndpointsWork() {
        Fixtures.Case c = casesOf("attn-r4").get(1);
        TestServer.Reply load = server.adminPost("/v1/load_lora_adapter", "{\"lora_name\":\"vllm-a\",\"lora_path\":"
                + quoted(Fixtures.tinyAdapter("attn-r4").toString()) + "}");
        assertEquals(200, load.status(), load.body());
        assertEquals("Success: LoRA adapter 'vllm-a' added successfully.", load.body(), "vLLM's answer");
        String byModel = body(c, null, 24).replace("{\"prompt\"", "{\"model\":\"vllm-a\",\"prompt\"");
        assertStartsWithReference(c, server.post("/v1/completions", byModel), "model naming the vLLM-loaded adapter");
        TestServer.Reply unload = server.adminPost("/v1/unload_lora_adapter", "{\"lora_name\":\"vllm-a\"}");
        assertEquals(200, unload.status(), unload.body());
        TestServer.Reply gone = server.post("/v1/completions", body(c, "vllm-a", 4));
        assertEquals(404, gone.status(), gone.body());
    }

    @Test
    void unknownAdapterIsNotFound() {
        Fixtures.Case c = casesOf(null).get(0);
        String withBase = body(c, "nobody", 4).replace("{\"prompt\"", "{\"model\":\"tiny-llama\",\"prompt\"");
        for (String body : new String[] {body(c, "nobody", 4), withBase}) {
            TestServer.Reply r = server.post("/v1/completions", body);
            assertEquals(404, r.status(), r.body());
            assertEquals("adapter_not_found", r.error().getString("code"));
            assertTrue(r.error().getString("message").contains("'nobody'"), r.body());
        }
    }

    /** As the README says: {@code "adapter"} naming the served model selects the base, alone or with {@code "model"}. */
    @Test
    void adapterNamingTheServedModelSelectsTheBase() {
        Fixtures.Case c = casesOf(null).get(0);
        String adapterOnly = body(c, "tiny-llama", c.tokens().length);
        String both = adapterOnly.replace("{\"prompt\"", "{\"model\":\"tiny-llama\",\"prompt\"");
        for (String body : new String[] {adapterOnly, both}) {
            TestServer.Reply r = server.post("/v1/completions", body);
            BaseModelGoldenTest.assertMatches(c, LoraGoldenTest.firstChoice(r));
            assertEquals("tiny-llama", r.json().getString("model"), r.body());
        }
        server.loadAdapter("named", Fixtures.tinyAdapter("attn-r4"));
        try {
            String disagree = adapterOnly.replace("{\"prompt\"", "{\"model\":\"named\",\"prompt\"");
            TestServer.Reply r = server.post("/v1/completions", disagree);
            assertEquals(400, r.status(), r.body());
            assertTrue(r.error().getString("message").contains("'named'"), r.body());
            assertTrue(r.error().getString("message").contains("base model 'tiny-llama'"), r.body());
        } finally {
            server.adminDelete("/admin/adapters/named");
        }
    }

    @Test
    void adapterAndModelNamingDifferentAdaptersIsABadRequest() {
        server.loadAdapter("left", Fixtures.tinyAdapter("attn-r4"));
        server.loadAdapter("right", Fixtures.tinyAdapter("all-r8-rslora"));
        try {
            Fixtures.Case c = casesOf(null).get(0);
            String both = body(c, "right", 4).replace("{\"prompt\"", "{\"model\":\"left\",\"prompt\"");
            TestServer.Reply r = server.post("/v1/completions", both);
            assertEquals(400, r.status(), r.body());
            assertTrue(r.error().getString("message").contains("'left'"), r.body());
            assertTrue(r.error().getString("message").contains("'right'"), r.body());
            String same = body(c, "left", 4).replace("{\"prompt\"", "{\"model\":\"left\",\"prompt\"");
            assertEquals(200, server.post("/v1/completions", same).status());
        } finally {
            server.adminDelete("/admin/adapters/left");
            server.adminDelete("/admin/adapters/right");
        }
    }

    @Test
    void modelsListsTheBaseAndEveryReadyAdapterWithTheBaseAsParent() {
        server.loadAdapter("listed", Fixtures.tinyAdapter("attn-r4"));
        List<JsonObject> models = server.get("/v1/models").json().getJsonArray("data")
                .getValuesAs(JsonObject.class);
        JsonObject base = models.get(0);
        assertEquals("tiny-llama", base.getString("id"));
        assertTrue(base.isNull("parent"));
        Set<String> adapters = registry.names().stream().collect(Collectors.toSet());
        assertEquals(adapters, models.stream().skip(1).map(m -> m.getString("id")).collect(Collectors.toSet()));
        assertTrue(adapters.contains("listed"));
        models.stream().skip(1).forEach(m -> assertEquals("tiny-llama", m.getString("parent"), m.toString()));
        assertEquals(base, server.get("/v1/models/tiny-llama").json(), "retrieve gives the listed entry");
        JsonObject listed = models.stream().filter(m -> m.getString("id").equals("listed")).findFirst().orElseThrow();
        assertEquals(listed, server.get("/v1/models/listed").json());
        assertEquals(200, server.adminDelete("/admin/adapters/listed").status());
        assertFalse(server.get("/v1/models").body().contains("\"listed\""));
        TestServer.Reply gone = server.get("/v1/models/listed");
        assertEquals(404, gone.status(), gone.body());
        assertEquals("model_not_found", gone.error().getString("code"));
    }

    /** Concurrent unloads of one adapter: exactly one removes it (200 with its record), the rest find nothing (404). */
    @Test
    void concurrentUnloadsRemoveOnce() {
        server.loadAdapter("once", Fixtures.tinyAdapter("attn-r4"));
        List<CompletableFuture<TestServer.Reply>> deletes = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            deletes.add(CompletableFuture.supplyAsync(() -> server.adminDelete("/admin/adapters/once")));
        }
        List<Integer> statuses = deletes.stream().map(f -> f.join().status()).sorted().toList();
        assertEquals(List.of(200, 404, 404, 404, 404, 404, 404, 404), statuses);
    }
}
