package io.loraserve.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.lora.AdapterRegistry.RegistryException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The catalogue's tiers on real adapter files: loading on first use (one load for concurrent acquirers, a failure
 * shared and then forgotten, nothing outside the roots), and the host tier (least recently used idle copy dropped
 * under the byte cap, read again only from unchanged files, an adapter in use never dropped).
 */
class AdapterTiersTest {
    /** Host bytes of the fixtures: attn-r4 7,168, all-r8-rslora 74,752. */
    private static final long ATTN = 7_168;
    private static final long ALL = 74_752;

    @TempDir
    Path tmp;
    private Path root;
    private TinyPlacement tiny;
    private AdapterRegistry registry;
    private final Counting events = new Counting();

    /** Counts loads and each tier's hits, misses and evictions. */
    private static final class Counting implements AdapterEvents {
        final AtomicInteger loads = new AtomicInteger();
        final AtomicInteger hostHits = new AtomicInteger();
        final AtomicInteger hostMisses = new AtomicInteger();
        final AtomicInteger hostEvictions = new AtomicInteger();

        @Override
        public void adapterLoaded(String adapter, long bytes, double seconds) {
            loads.incrementAndGet();
        }

        @Override
        public void tierHit(String tier) {
            if (tier.equals(HOST)) {
                hostHits.incrementAndGet();
            }
        }

        @Override
        public void tierMiss(String tier, double seconds) {
            if (tier.equals(HOST)) {
                hostMisses.incrementAndGet();
            }
        }

        @Override
        public void tierEvicted(String tier) {
            if (tier.equals(HOST)) {
                hostEvictions.incrementAndGet();
            }
        }
    }

    @BeforeEach
    void setUp() throws IOException {
        root = Files.createDirectories(tmp.resolve("root"));
    }

    private void start(long hostCap) {
        tiny = new TinyPlacement(1, hostCap, List.of(root));
        registry = tiny.registry;
        registry.setEvents(events);
        registry.loadOnFirstUse(true);
    }

    @AfterEach
    void tearDown() {
        if (tiny != null) {
            tiny.close();
        }
    }

    private static Path copy(String fixture, Path dir) {
        try {
            Files.createDirectories(dir);
            for (String f : List.of(AdapterWeights.CONFIG, AdapterWeights.FILE)) {
                Files.copy(Fixtures.tinyAdapter(fixture).resolve(f), dir.resolve(f));
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Holds the loader thread until the returned latch is counted down. */
    private CountDownLatch holdLoader() throws InterruptedException {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        registry.onLoaderThread(() -> {
            entered.countDown();
            try {
                release.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        assertTrue(entered.await(10, TimeUnit.SECONDS));
        return release;
    }

    /** Starts {@code n} acquires of {@code name}, each on its own thread, and waits until all of them block. */
    private List<CompletableFuture<Object>> acquireConcurrently(String name, int n) throws InterruptedException {
        List<CompletableFuture<Object>> results = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            CompletableFuture<Object> result = new CompletableFuture<>();
            results.add(result);
            Thread t = Thread.ofPlatform().start(() -> {
                try {
                    result.complete(registry.acquire(name));
                } catch (RuntimeException e) {
                    result.complete(e);
                }
            });
            threads.add(t);
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (threads.stream().anyMatch(t -> t.getState() != Thread.State.WAITING)) {
            assertTrue(System.nanoTime() < deadline, "every acquirer blocks on the held load");
            Thread.sleep(2);
        }
        return results;
    }

    @Test
    void concurrentFirstAcquiresShareOneLoad() throws Exception {
        copy("attn-r4", root.resolve("lazy"));
        start(1 << 20);
        CountDownLatch release = holdLoader();
        List<CompletableFuture<Object>> results = acquireConcurrently("lazy", 6);
        assertFalse(registry.contains("lazy"), "nothing is registered before the load ends");
        release.countDown();
        Object first = results.get(0).get(10, TimeUnit.SECONDS);
        assertTrue(first instanceof Adapter, String.valueOf(first));
        for (CompletableFuture<Object> r : results) {
            assertSame(first, r.get(10, TimeUnit.SECONDS), "every acquirer got the one loaded version");
        }
        assertEquals(1, events.loads.get(), "one load for six concurrent first requests");
        Adapter a = (Adapter) first;
        assertEquals(6, a.inFlight());
        assertTrue(a.onDemand());
        assertEquals(root.resolve("lazy").toRealPath(), a.path());
    }

    @Test
    void aBadDirectoryFailsEveryWaiterWithTheLoadsErrorAndTheNextAcquireRetries() throws Exception {
        Path dir = copy("attn-r4", root.resolve("broken"));
        Files.delete(dir.resolve(AdapterWeights.FILE));
        start(1 << 20);
        CountDownLatch release = holdLoader();
        List<CompletableFuture<Object>> results = acquireConcurrently("broken", 4);
        release.countDown();
        Object first = results.get(0).get(10, TimeUnit.SECONDS);
        assertTrue(first instanceof AdapterException e && e.reason() == AdapterException.Reason.WEIGHTS_UNREADABLE,
                String.valueOf(first));
        for (CompletableFuture<Object> r : results) {
            assertSame(first, r.get(10, TimeUnit.SECONDS), "every waiter gets the one load's error");
        }
        assertFalse(registry.contains("broken"));
        Files.copy(Fixtures.tinyAdapter("attn-r4").resolve(AdapterWeights.FILE), dir.resolve(AdapterWeights.FILE));
        Adapter a = registry.acquire("broken");
        assertEquals(ATTN, a.bytes(), "the next request loads again, and now it works");
        assertEquals(1, events.loads.get());
    }

    @Test
    void namesThatAreNotOneDirectoryUnderARootAreRefusedWithoutLookingFurther() throws IOException {
        copy("attn-r4", root.resolve("sub").resolve("inner"));
        Path outside = copy("attn-r4", tmp.resolve("outside"));
        Files.createSymbolicLink(root.resolve("escape"), outside);
        start(1 << 20);
        for (String name : List.of("sub/inner", "../outside", "..", "sub/../sub/inner")) {
            assertFalse(registry.servable(name), name);
            RegistryException e = assertThrows(RegistryException.class, () -> registry.acquire(name), name);
            assertEquals(RegistryException.Kind.BAD_NAME, e.kind(), name + ": " + e.getMessage());
        }
        assertTrue(registry.servable("escape"), "an entry of that name exists in the root");
        RegistryException e = assertThrows(RegistryException.class, () -> registry.acquire("escape"));
        assertEquals(RegistryException.Kind.OUTSIDE_ROOTS, e.kind(), e.getMessage());
        RegistryException none = assertThrows(RegistryException.class, () -> registry.acquire("nowhere"));
        assertEquals(RegistryException.Kind.NOT_FOUND, none.kind());
        assertEquals(List.of(), registry.names(), "nothing was registered");
        assertEquals(0, events.loads.get());
    }

    @Test
    void withoutLoadOnFirstUseAnUnregisteredNameIsNotFound() {
        copy("attn-r4", root.resolve("lazy"));
        start(1 << 20);
        registry.loadOnFirstUse(false);
        assertFalse(registry.servable("lazy"));
        assertEquals(RegistryException.Kind.NOT_FOUND,
                assertThrows(RegistryException.class, () -> registry.acquire("lazy")).kind());
    }

    @Test
    void theLeastRecentlyUsedIdleHostCopyIsDroppedAndReadAgainOnNextUse() {
        copy("attn-r4", root.resolve("a"));
        copy("all-r8-rslora", root.resolve("b"));
        copy("attn-r4", root.resolve("c"));
        start(ALL + ATTN);  // room for b and one of the small ones
        Adapter a = registry.acquire("a");
        a.release();
        Adapter c = registry.acquire("c");
        c.release();
        Adapter a2 = registry.acquire("a");  // a is now more recently used than c
        assertSame(a, a2);
        a2.release();
        assertEquals(2 * ATTN, registry.hostBytes());
        Adapter b = registry.acquire("b");
        assertEquals(AdapterEvents.DISK, c.tier(), "the least recently used idle copy went");
        assertEquals(AdapterEvents.HOST, a.tier());
        assertEquals(ALL + ATTN, registry.hostBytes());
        assertEquals(1, events.hostEvictions.get());
        b.release();
        Adapter c2 = registry.acquire("c");
        assertSame(c, c2, "the same registered version, read again");
        assertEquals(AdapterEvents.HOST, c.tier());
        assertEquals(ATTN, c.weights().bytes());
        assertEquals(AdapterEvents.DISK, a.tier(), "a was now the least recently used idle copy");
        assertTrue(registry.hostBytes() <= ALL + ATTN);
        assertEquals(3, events.loads.get(), "a read again is no new load");
        assertEquals(4, events.hostMisses.get(), "three first uses and one read again");
        c2.release();
    }

    @Test
    void anAdapterInUseIsNeverDropped() {
        copy("attn-r4", root.resolve("a"));
        copy("all-r8-rslora", root.resolve("b"));
        start(ALL);  // room for one at a time
        Adapter a = registry.acquire("a");
        RegistryException e = assertThrows(RegistryException.class, () -> registry.acquire("b"));
        assertEquals(RegistryException.Kind.CAPACITY, e.kind());
        assertTrue(e.getMessage().contains("in use by running requests"), e.getMessage());
        assertEquals(AdapterEvents.HOST, a.tier());
        assertEquals(ATTN, a.weights().bytes(), "the held copy is intact");
        a.release();
        Adapter b = registry.acquire("b");
        assertEquals(AdapterEvents.DISK, a.tier());
        b.release();
        assertEquals(ALL, registry.hostBytes());
    }

    @Test
    void aDroppedCopyWhoseFileChangedIsNotReadAgain() throws IOException {
        Path dir = copy("attn-r4", root.resolve("a"));
        copy("all-r8-rslora", root.resolve("b"));
        start(ALL);
        registry.acquire("a").release();
        registry.acquire("b").release();  // drops a's copy
        Path weights = dir.resolve(AdapterWeights.FILE);
        Files.setLastModifiedTime(weights, FileTime.fromMillis(Files.getLastModifiedTime(weights).toMillis() + 5_000));
        AdapterException e = assertThrows(AdapterException.class, () -> registry.acquire("a"));
        assertEquals(AdapterException.Reason.FILES_CHANGED, e.reason());
        assertTrue(e.getMessage().contains("was modified since it was loaded") && e.getMessage().contains("load_inplace"),
                e.getMessage());
        assertEquals(0, registry.get("a").orElseThrow().inFlight(), "the failed acquire let go of its reference");
        Files.write(weights, new byte[] {1, 2, 3});
        e = assertThrows(AdapterException.class, () -> registry.acquire("a"));
        assertTrue(e.getMessage().contains("changed size"), e.getMessage());
        Files.delete(weights);
        e = assertThrows(AdapterException.class, () -> registry.acquire("a"));
        assertTrue(e.getMessage().contains("no longer exists"), e.getMessage());
        assertTrue(registry.contains("a"), "it stays registered: a reload with replace fixes it");
        assertEquals(ALL, registry.hostBytes());
    }
}
