package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.loraserve.Fixtures;
import io.loraserve.PeftDir;
import io.loraserve.model.ModelConfig;
import io.loraserve.model.Proj;
import jakarta.json.JsonObject;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** An adapter's admin record states its per-module ranks and alphas, not only the global ones. */
class AdapterRecordTest {
    @TempDir
    Path root;

    @Test
    void recordShowsRankAndAlphaPatterns() {
        ModelConfig tiny = ModelConfig.load(Fixtures.tinyModel());
        PeftDir files = new PeftDir(tiny, 3).lora(0, Proj.Q, 4).lora(1, Proj.Q, 4).lora(0, Proj.V, 4).lora(1, Proj.V, 2)
                .config("{'rank_pattern': {'layers.1.self_attn.v_proj': 2}, 'alpha_pattern': {'v_proj': 3}}");
        try (TestServer server = new TestServer(Fixtures.tinyModel(), "--adapter-root", root.toString())) {
            TestServer.Reply loaded = server.postAdapter("patterned", files.writeTo(root.resolve("patterned")));
            assertEquals(201, loaded.status(), loaded.body());
            JsonObject record = server.adminGet("/admin/adapters/patterned").json();
            assertEquals(4, record.getInt("rank"));
            assertEquals(2, record.getJsonObject("rank_pattern").getInt("layers.1.self_attn.v_proj"));
            assertEquals(3.0, record.getJsonObject("alpha_pattern").getJsonNumber("v_proj").doubleValue());
            assertEquals(record, server.adminGet("/admin/adapters").json().getJsonArray("data").getJsonObject(0),
                    "the listing holds the same record");
            assertEquals(200, server.post("/v1/completions", "{\"prompt\":\"Hi\",\"max_tokens\":2,\"model\":\"patterned\"}")
                    .status());
        }
    }
}
