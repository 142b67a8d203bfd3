package io.loraserve.server;

import static io.loraserve.server.BaseModelGoldenTest.assertMatches;
import static io.loraserve.server.LoraGoldenTest.allAtOnceMatchTheReference;
import static io.loraserve.server.LoraGoldenTest.body;
import static io.loraserve.server.LoraGoldenTest.firstChoice;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.TestDevice;
import io.loraserve.model.ModelConfig;
import jakarta.json.JsonObject;
import jakarta.json.JsonString;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every reference case of each family model (Llama 3.1 rope scaling, Qwen3, Phi-3 with an adapter
 * on its fused modules) over HTTP, on both kernels, with the family's adapter loaded through the
 * admin API: each case alone, all eight at once in mixed batches, and with the adapter pinned.
 */
class FamiliesGoldenTest {
    /** One server per family and kernels, started by the first test that needs it. */
    private static final Map<String, TestServer> SERVERS = new HashMap<>();

    static Stream<Arguments> familiesAndKernels() {
        return Fixtures.FAMILIES.stream().flatMap(f -> TestDevice.kernels().stream()
                .map(k -> Arguments.of(f, k.name().toLowerCase(Locale.ROOT))));
    }

    static Stream<String> families() {
        return Fixtures.FAMILIES.stream();
    }

    private static TestServer server(String family, String kernels) {
        return SERVERS.computeIfAbsent(family + " " + kernels, key -> {
            TestServer server = new TestServer(Fixtures.familyModel(family), "--adapter-root",
                    Fixtures.familyAdapters().toString(), "--kernels", kernels);
            String adapter = adapter(family);
            server.loadAdapter(adapter, Fixtures.familyAdapters().resolve(adapter));
            return server;
        });
    }

    /** The family's one adapter, as its reference cases name it. */
    private static String adapter(String family) {
        return Fixtures.familyCases(family).stream().map(Fixtures.Case::adapter).filter(Objects::nonNull)
                .findFirst().orElseThrow();
    }

    @AfterAll
    static void stop() {
        SERVERS.values().forEach(TestServer::close);
        SERVERS.clear();
    }

    @ParameterizedTest(name = "{0} on {1} kernels")
    @MethodSource("familiesAndKernels")
    void everyCaseAloneMatchesTheReference(String family, String kernels) {
        TestServer server = server(family, kernels);
        for (Fixtures.Case c : Fixtures.familyCases(family)) {
            assertMatches(c, firstChoice(server.post("/v1/completions", body(c))));
        }
    }

    @ParameterizedTest(name = "{0} on {1} kernels")
    @MethodSource("familiesAndKernels")
    void allEightCasesAtOnceMatchTheReference(String family, String kernels) {
        allAtOnceMatchTheReference(server(family, kernels), Fixtures.familyCases(family));
    }

    @ParameterizedTest(name = "{0} on {1} kernels")
    @MethodSource("familiesAndKernels")
    void pinnedAdapterServesTheReferenceFromMergedWeights(String family, String kernels) {
        TestServer server = server(family, kernels);
        String adapter = adapter(family);
        TestServer.Reply pin = server.adminPost("/admin/adapters/" + adapter + "/pin", "");
        assertEquals(200, pin.status(), pin.body());
        assertTrue(pin.json().getBoolean("pinned"));
        try {
            allAtOnceMatchTheReference(server, Fixtures.familyCases(family));
        } finally {
            assertEquals(200, server.adminPost("/admin/adapters/" + adapter + "/unpin", "").status());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("families")
    void modelsVersionAndAdminRecordShowTheArchitectureAndTargets(String family) {
        TestServer server = server(family, "java");
        String architecture = ModelConfig.load(Fixtures.familyModel(family)).architecture();
        List<JsonObject> models = server.get("/v1/models").json().getJsonArray("data").getValuesAs(JsonObject.class);
        assertEquals(2, models.size());
        for (JsonObject m : models) {
            assertEquals(architecture, m.getString("architecture"), m.toString());
        }
        assertEquals(architecture, server.get("/version").json().getString("architecture"));
        JsonObject record = server.adminGet("/admin/adapters/" + adapter(family)).json();
        List<String> expected = switch (family) {
            case "phi3" -> List.of("qkv_proj", "o_proj", "gate_up_proj", "down_proj");
            case "qwen3" -> List.of("q_proj", "v_proj", "o_proj", "down_proj");
            default -> List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");
        };
        assertEquals(expected, record.getJsonArray("targets").getValuesAs(JsonString.class)
                .stream().map(JsonString::getString).toList());
    }
}
