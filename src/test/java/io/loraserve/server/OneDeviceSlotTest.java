package io.loraserve.server;

import static io.loraserve.server.AdapterLifecycleTest.assertStartsWithReference;
import static io.loraserve.server.AdapterLifecycleTest.body;
import static io.loraserve.server.AdapterLifecycleTest.casesOf;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.engine.Engine;
import io.loraserve.lora.Adapter;
import jakarta.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A server with {@code --max-adapters 1}: three adapters share one device slot, which passes from one to the next
 * as each goes idle (LRU), and an adapter waiting for it is not starved by one that keeps getting requests.
 */
class OneDeviceSlotTest {
    private static final List<String> ADAPTERS = List.of("attn-r4", "all-r8-rslora", "mlp-r16-layer1-bf16");
    private static TestServer server;

    @BeforeAll
    static void start() {
        // libtorch kernels: the checks below catch requests mid-decode, which the Java kernels
        // finish on the tiny model within milliseconds
        server = new TestServer(Fixtures.tinyModel(), "--adapter-root", Fixtures.tinyAdapter("attn-r4").getParent()
                .toString(), "--max-adapters", "1", "--kernels", "torch");
        ADAPTERS.forEach(a -> server.loadAdapter(a, Fixtures.tinyAdapter(a)));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void threeAdaptersRequestedAtOnceAllMatchTheirReferences() {
        List<Fixtures.Case> cases = Fixtures.tinyCases();
        List<CompletableFuture<TestServer.Reply>> replies = cases.stream()
                .map(c -> server.postAsync("/v1/completions", body(c, c.adapter(), 24))).toList();
        for (int i = 0; i < cases.size(); i++) {
            assertStartsWithReference(cases.get(i), replies.get(i).join(), "with one device slot");
        }
        long onDevice = server.adminGet("/admin/adapters").json().getJsonArray("data").getValuesAs(JsonObject.class)
                .stream().filter(a -> a.getString("tier").equals("device")).count();
        assertEquals(1, onDevice, "one slot holds one adapter");
    }

    /**
     * Six clients keep attn-r4 busy without pause; a request for all-r8-rslora must get the slot once the attn-r4
     * requests ahead of it finish, not whenever the slot happens to fall idle (before the fix it waited 7 s while
     * 1,347 attn-r4 requests went by; now about 6 do).
     */
    @Test
    void anAdapterWaitingForTheSlotIsNotStarvedByABusyOne() throws InterruptedException {
        Fixtures.Case hot = casesOf("attn-r4").get(0);
        Fixtures.Case waiting = casesOf("all-r8-rslora").get(0);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger served = new AtomicInteger();
        List<Thread> clients = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            clients.add(Thread.ofVirtual().start(() -> {
                while (!stop.get()) {
                    assertEquals(200, server.post("/v1/completions", body(hot, "attn-r4", 24)).status());
                    served.incrementAndGet();
                }
            }));
        }
        try {
            EnginePause.await(() -> served.get() >= 12, "the busy adapter is being served");
            int before = served.get();
            assertStartsWithReference(waiting, server.post("/v1/completions", body(waiting, "all-r8-rslora", 24)),
                    "waiting for the slot");
            int meanwhile = served.get() - before;
            assertTrue(meanwhile <= 24, meanwhile + " attn-r4 requests were served while all-r8-rslora waited");
        } finally {
            stop.set(true);
            for (Thread c : clients) {
                c.join();
            }
        }
    }

    /**
     * A request that started on a pinned adapter (no slot needed) needs the slot once the adapter is unpinned; while
     * six clients keep attn-r4 busy it must get it as soon as the attn-r4 requests running then have finished.
     */
    @Test
    void aRunningRequestWhoseAdapterIsUnpinnedIsNotStarvedOfTheSlot() throws InterruptedException {
        Fixtures.Case hot = casesOf("attn-r4").get(0);
        Fixtures.Case unpinned = casesOf("mlp-r16-layer1-bf16").get(1);
        Engine engine = server.server.runtime().engine();
        Adapter adapter = server.server.runtime().registry().get("mlp-r16-layer1-bf16").orElseThrow();
        assertEquals(200, server.adminPost("/admin/adapters/mlp-r16-layer1-bf16/pin", "").status());
        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger served = new AtomicInteger();
        List<Thread> clients = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            clients.add(Thread.ofVirtual().start(() -> {
                while (!stop.get()) {
                    assertEquals(200, server.post("/v1/completions", body(hot, "attn-r4", 24)).status());
                    served.incrementAndGet();
                }
            }));
        }
        try {
            EnginePause.await(() -> served.get() >= 12, "the busy adapter is being served");
            CompletableFuture<TestServer.Reply> reply = server.postAsync("/v1/completions",
                    body(unpinned, "mlp-r16-layer1-bf16", 64));
            EnginePause.await(() -> adapter.inFlight() == 1, "the pinned adapter's request arrives");
            long steps = engine.stats().steps();
            EnginePause.await(() -> engine.stats().steps() >= steps + 3, "it decodes pinned");
            assertEquals(200, server.adminPost("/admin/adapters/mlp-r16-layer1-bf16/unpin", "").status());
            int before = served.get();
            assertStartsWithReference(unpinned, reply.join(), "unpinned mid-generation");
            int meanwhile = served.get() - before;
            assertTrue(meanwhile <= 24, meanwhile + " attn-r4 requests were served while the unpinned one waited");
        } finally {
            stop.set(true);
            for (Thread c : clients) {
                c.join();
            }
        }
    }
}
