package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.engine.Engine;
import java.util.concurrent.CompletableFuture;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * A CUDA error that corrupts the device context ends the server's usefulness: the requests it holds
 * fail, new ones are refused, readiness and a metric say so, the log says it once. No GPU here, so
 * the error is raised on the engine thread with the message libtorch gives for it (the only
 * mocked fault: it cannot be caused on a CPU). An out-of-memory error is not such a fault.
 */
class DeviceFaultTest {
    private static final String BODY = "{\"prompt\":\"Once upon a time\",\"max_tokens\":8,\"temperature\":0}";

    @Test
    void aDeviceFaultFailsHeldRequestsRefusesNewOnesAndFailsReadiness() {
        Logger engineLog = Logger.getLogger(Engine.class.getName());
        CopyOnWriteArrayList<LogRecord> severe = new CopyOnWriteArrayList<>();
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord r) {
                if (r.getLevel() == Level.SEVERE) {
                    severe.add(r);
                }
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        engineLog.addHandler(capture);
        // libtorch's kernels: the long request must still be decoding when the fault comes
        try (TestServer server = new TestServer(Fixtures.tinyModel(), "--kernels", "torch")) {
            Engine engine = server.server.runtime().engine();
            assertEquals(200, server.post("/v1/completions", BODY).status(), "served before the fault");
            CompletableFuture<TestServer.Reply> held = server.postAsync("/v1/completions",
                    "{\"prompt\":\"Once upon a time\",\"max_tokens\":200,\"temperature\":0,\"ignore_eos\":true}");
            EnginePause.await(() -> engine.stats().running() == 1, "the long request runs");
            try (EnginePause pause = new EnginePause(engine)) {
                engine.execute(() -> {
                    throw new RuntimeException("CUDA error: an illegal memory access was encountered\n"
                            + "CUDA kernel errors might be asynchronously reported at some other API call");
                });
                engine.execute(() -> {
                    throw new RuntimeException("CUDA error: device-side assert triggered");  // said once only
                });
            }
            TestServer.Reply failed = held.join();
            assertEquals(500, failed.status(), failed.body());
            assertTrue(failed.error().getString("message").contains("the device failed (CUDA error: an illegal memory"
                    + " access was encountered)"), failed.body());

            TestServer.Reply refused = server.post("/v1/completions", BODY);
            assertEquals(503, refused.status(), refused.body());
            assertTrue(refused.error().getString("message").contains("must be restarted"), refused.body());

            TestServer.Reply ready = server.get("/health/ready");
            assertEquals(503, ready.status());
            assertEquals("device failed: CUDA error: an illegal memory access was encountered; restart the process",
                    ready.json().getString("reason"));
            assertEquals(200, server.get("/health/live").status(), "the process itself still answers");
            assertTrue(server.get("/metrics").body().contains("loraserve_engine_device_fault 1.0"));
            EnginePause.await(() -> !severe.isEmpty(), "the fault is logged");
            assertEquals(1, severe.stream().filter(r -> r.getMessage().startsWith("device fault:")).count());
        } finally {
            engineLog.removeHandler(capture);
        }
    }

    @Test
    void runningOutOfDeviceMemoryOrAnUnsupportedCallIsNotADeviceFault() {
        try (TestServer server = new TestServer(Fixtures.tinyModel())) {
            Engine engine = server.server.runtime().engine();
            engine.execute(() -> {
                throw new RuntimeException("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.78 GiB total)");
            });
            engine.execute(() -> {
                throw new RuntimeException("CUDA error: out of memory");
            });
            engine.execute(() -> {
                throw new RuntimeException("CUDA error: CUBLAS_STATUS_NOT_SUPPORTED when calling cublasGemmEx");
            });
            assertEquals(200, server.post("/v1/completions", BODY).status());
            assertEquals(200, server.get("/health/ready").status());
            assertTrue(server.get("/metrics").body().contains("loraserve_engine_device_fault 0.0"));
        }
    }
}
