package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import org.junit.jupiter.api.Test;

/** What the admin API does to adapters shows in /metrics: loaded, pinned, tier, and removal. */
class AdapterMetricsWiringTest {

    private static boolean has(TestServer s, String line) {
        return s.get("/metrics").body().lines().anyMatch(l -> l.equals(line));
    }

    @Test
    void adminActionsAreReflectedInTheAdapterGauges() {
        try (TestServer s = new TestServer(Fixtures.tinyModel(), "--adapter-root",
                Fixtures.tinyAdapters().toString())) {
            s.loadAdapter("attn-r4", Fixtures.tinyAdapter("attn-r4"));
            assertTrue(has(s, "loraserve_adapter_loaded{adapter=\"attn-r4\"} 1.0"));
            assertTrue(has(s, "loraserve_adapter_tier{adapter=\"attn-r4\",tier=\"host\"} 1.0"));

            assertEquals(200, s.post("/v1/completions", "{\"prompt\":\"Hi\",\"adapter\":\"attn-r4\",\"max_tokens\":2}").status());
            assertTrue(has(s, "loraserve_adapter_tier{adapter=\"attn-r4\",tier=\"device\"} 1.0"), "uploaded to a slot");

            assertEquals(200, s.adminPost("/admin/adapters/attn-r4/pin", "").status());
            assertTrue(has(s, "loraserve_adapter_pinned{adapter=\"attn-r4\"} 1.0"));
            assertEquals(200, s.adminPost("/admin/adapters/attn-r4/unpin", "").status());
            assertTrue(has(s, "loraserve_adapter_pinned{adapter=\"attn-r4\"} 0.0"));

            assertEquals(200, s.adminDelete("/admin/adapters/attn-r4").status());
            assertFalse(s.get("/metrics").body().contains("adapter=\"attn-r4\""), "an unloaded adapter's series are dropped");
        }
    }
}
