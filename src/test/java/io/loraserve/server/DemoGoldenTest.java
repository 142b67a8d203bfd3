package io.loraserve.server;

import static io.loraserve.server.BaseModelGoldenTest.assertMatches;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.loraserve.Fixtures;
import jakarta.json.JsonObject;
import java.nio.file.Path;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The quick start's server — no arguments: the demo model and its three adapters shipped in this
 * project — against the independent reference in src/test/data/demo/expected.json (from ../shared/demo).
 */
class DemoGoldenTest {
    private static TestServer server;

    @BeforeAll
    static void start() {
        server = TestServer.noArguments(Path.of("").toAbsolutePath());
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void noArgumentServerListsTheDemoModelAndItsThreeAdapters() {
        JsonObject models = server.get("/v1/models").json();
        Set<String> ids = models.getJsonArray("data").getValuesAs(JsonObject.class).stream()
                .map(m -> m.getString("id")).collect(Collectors.toSet());
        assertEquals(Set.of("loraserve-demo", "code", "verse", "legal"), ids);
    }

    @Test
    void everyDemoCaseAloneMatchesTheReference() {
        for (Fixtures.Case c : Fixtures.demoCases()) {
            assertMatches(c, LoraGoldenTest.firstChoice(server.post("/v1/completions", LoraGoldenTest.body(c))));
        }
    }

    @Test
    void allDemoCasesAtOnceMatchTheReference() {
        LoraGoldenTest.allAtOnceMatchTheReference(server, Fixtures.demoCases());
    }
}
