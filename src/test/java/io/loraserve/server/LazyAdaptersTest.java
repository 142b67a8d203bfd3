package io.loraserve.server;

import static io.loraserve.server.AdapterLifecycleTest.assertStartsWithReference;
import static io.loraserve.server.AdapterLifecycleTest.body;
import static io.loraserve.server.AdapterLifecycleTest.casesOf;
import static io.loraserve.server.BaseModelGoldenTest.quoted;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Adapters loaded on first use over HTTP, with a host tier that holds one fixture adapter at a time
 * ({@code --max-cpu-adapter-bytes} 74,752 = all-r8-rslora's host bytes): what a first use, a copy dropped and read
 * again, and a changed file give a client, checked against the reference generations; the refusals; vLLM's
 * {@code load_inplace}.
 */
class LazyAdaptersTest {
    @TempDir
    static Path tmp;
    private static Path root;
    private static TestServer server;

    @BeforeAll
    static void start() throws IOException {
        root = Files.createDirectories(tmp.resolve("root"));
        for (String a : TestServer.FIXTURE_ADAPTERS) {
            AdminRefusalsTest.copyFixture(a, root.resolve(a));
        }
        AdminRefusalsTest.copyFixture("attn-r4", root.resolve("changing"));
        AdminRefusalsTest.copyFixture("attn-r4", root.resolve("broken"));
        Files.delete(root.resolve("broken").resolve("adapter_model.safetensors"));
        Files.createSymbolicLink(root.resolve("escape"),
                AdminRefusalsTest.copyFixture("attn-r4", tmp.resolve("outside")));
        AdminRefusalsTest.copyFixture("attn-r4", root.resolve("sub").resolve("inner"));
        server = new TestServer(Fixtures.tinyModel(), "--adapter-root", root.toString(), "--max-adapters", "2",
                "--max-cpu-adapter-bytes", "74752");
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    private static String byModel(Fixtures.Case c, String model, int maxTokens) {
        return body(c, null, maxTokens).replace("{\"prompt\"", "{\"model\":\"" + model + "\",\"prompt\"");
    }

    private static double metric(String line) {
        for (String l : server.get("/metrics").body().split("\n")) {
            if (l.startsWith(line + " ")) {
                return Double.parseDouble(l.substring(line.length() + 1));
            }
        }
        return 0;
    }

    @Test
    void firstUseDroppedCopyAndReadAgainAllGiveTheReference() {
        double evictions = metric("loraserve_adapter_tier_evictions_total{tier=\"host\"}");
        for (String adapter : List.of("attn-r4", "all-r8-rslora", "attn-r4", "mlp-r16-layer1-bf16", "all-r8-rslora")) {
            Fixtures.Case c = casesOf(adapter).get(0);
            assertStartsWithReference(c, server.post("/v1/completions", byModel(c, adapter, 24)), adapter);
            assertTrue(server.get("/v1/models").body().contains("\"id\":\"" + adapter + "\""), adapter + " is listed");
            assertTrue(server.server.runtime().registry().hostBytes() <= 74_752);
        }
        assertTrue(metric("loraserve_adapter_tier_evictions_total{tier=\"host\"}") >= evictions + 4,
                "each switch between the two large adapters dropped the other's copy");
        assertEquals(server.server.runtime().registry().hostBytes(), metric("loraserve_adapter_host_bytes"));
        String record = server.adminGet("/admin/adapters/attn-r4").body();
        assertTrue(record.contains("\"tier\":\"disk\"") && record.contains("\"on_demand\":true"), record);
    }

    @Test
    void namesWithSlashOrDotDotOrALinkOutOfTheRootAreRefused() {
        Fixtures.Case c = casesOf("attn-r4").get(0);
        for (String name : List.of("sub/inner", "../outside", "sub/../attn-r4")) {
            TestServer.Reply r = server.post("/v1/completions", byModel(c, name, 2));
            assertEquals(404, r.status(), name + ": " + r.body());
            assertEquals("model_not_found", r.error().getString("code"));
        }
        TestServer.Reply r = server.post("/v1/completions", body(c, "escape", 2));
        assertEquals(403, r.status(), r.body());
        assertEquals("path_not_allowed", r.error().getString("code"));
        assertFalse(r.body().contains(tmp.resolve("outside").toString()), "the refusal does not say where it leads");
        List<String> names = server.server.runtime().registry().names();
        assertFalse(names.contains("escape") || names.contains("inner") || names.contains("outside"), names.toString());
        TestServer.Reply ok = server.post("/v1/completions", byModel(c, "tiny-llama", 1));
        assertEquals(200, ok.status(), "everyone else is still served: " + ok.body());
    }

    @Test
    void aBrokenDirectoryIsA400EveryTime() {
        Fixtures.Case c = casesOf("attn-r4").get(0);
        for (int i = 0; i < 2; i++) {
            TestServer.Reply r = server.post("/v1/completions", byModel(c, "broken", 2));
            assertEquals(400, r.status(), r.body());
            assertEquals("adapter_weights_unreadable", r.error().getString("code"));
            assertEquals("model", r.error().getString("param"));
        }
        assertFalse(server.server.runtime().registry().contains("broken"));
    }

    @Test
    void aFileChangedAfterItsCopyWasDroppedIsA500UntilReloaded() throws IOException {
        Fixtures.Case attn = casesOf("attn-r4").get(1);
        assertStartsWithReference(attn, server.post("/v1/completions", byModel(attn, "changing", 24)), "first use");
        Fixtures.Case big = casesOf("all-r8-rslora").get(1);
        assertStartsWithReference(big, server.post("/v1/completions", byModel(big, "all-r8-rslora", 24)), "big");
        assertEquals(74_752, server.server.runtime().registry().hostBytes(), "only all-r8-rslora's copy is held");
        Path weights = root.resolve("changing").resolve("adapter_model.safetensors");
        Files.copy(Fixtures.tinyAdapter("all-r8-rslora").resolve("adapter_model.safetensors"), weights,
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.copy(Fixtures.tinyAdapter("all-r8-rslora").resolve("adapter_config.json"),
                root.resolve("changing").resolve("adapter_config.json"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.setLastModifiedTime(weights, FileTime.fromMillis(System.currentTimeMillis() + 10_000));
        TestServer.Reply r = server.post("/v1/completions", byModel(attn, "changing", 2));
        assertEquals(500, r.status(), r.body());
        assertEquals("adapter_changed_on_disk", r.error().getString("code"));
        assertTrue(r.error().getString("message").contains("load_inplace"), r.body());
        TestServer.Reply reload = server.adminPost("/v1/load_lora_adapter", "{\"lora_name\":\"changing\",\"lora_path\":"
                + quoted(root.resolve("changing").toString()) + ",\"load_inplace\":true}");
        assertEquals(200, reload.status(), reload.body());
        assertStartsWithReference(big, server.post("/v1/completions", byModel(big, "changing", 24)),
                "reloaded in place: the new files' weights");
    }

    @Test
    void loadInplaceReplacesAndWithoutItAnExistingNameIsRefusedAsVllmDoes() {
        String attn = "{\"lora_name\":\"rl-policy\",\"lora_path\":" + quoted(root.resolve("attn-r4").toString());
        TestServer.Reply first = server.adminPost("/v1/load_lora_adapter", attn + "}");
        assertEquals(200, first.status(), first.body());
        assertEquals("Success: LoRA adapter 'rl-policy' added successfully.", first.body());
        Fixtures.Case a = casesOf("attn-r4").get(2);
        assertStartsWithReference(a, server.post("/v1/completions", byModel(a, "rl-policy", 24)), "before");
        String mlp = "{\"lora_name\":\"rl-policy\",\"lora_path\":" + quoted(root.resolve("mlp-r16-layer1-bf16")
                .toString());
        TestServer.Reply again = server.adminPost("/v1/load_lora_adapter", mlp + "}");
        assertEquals(400, again.status(), again.body());
        assertEquals("The lora adapter 'rl-policy' has already been loaded. If you want to load the adapter in place,"
                + " set 'load_inplace' to True.", again.error().getString("message"));
        assertStartsWithReference(a, server.post("/v1/completions", byModel(a, "rl-policy", 24)), "refused: unchanged");
        TestServer.Reply inplace = server.adminPost("/v1/load_lora_adapter", mlp + ",\"load_inplace\":true}");
        assertEquals(200, inplace.status(), inplace.body());
        Fixtures.Case m = casesOf("mlp-r16-layer1-bf16").get(2);
        assertStartsWithReference(m, server.post("/v1/completions", byModel(m, "rl-policy", 24)), "replaced in place");
        TestServer.Reply unload = server.adminPost("/v1/unload_lora_adapter", "{\"lora_name\":\"rl-policy\"}");
        assertEquals("Success: LoRA adapter 'rl-policy' removed successfully.", unload.body());
        TestServer.Reply gone = server.adminPost("/v1/unload_lora_adapter", "{\"lora_name\":\"rl-policy\"}");
        assertEquals(404, gone.status());
        assertEquals("The lora adapter 'rl-policy' cannot be found.", gone.error().getString("message"));
    }

    @Test
    void withNoLazyAdaptersAnUnloadedNameIsNotFound() {
        try (TestServer off = new TestServer(Fixtures.tinyModel(), "--adapter-root", root.toString(),
                "--no-lazy-adapters")) {
            Fixtures.Case c = casesOf("attn-r4").get(0);
            TestServer.Reply r = off.post("/v1/completions", byModel(c, "attn-r4", 2));
            assertEquals(404, r.status(), r.body());
            assertFalse(off.server.runtime().registry().contains("attn-r4"));
        }
    }
}
