package io.loraserve.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.TestDevice;
import io.loraserve.model.ModelConfig;
import io.loraserve.model.PagedKvCache;
import io.loraserve.model.SamplingParams;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/**
 * 10,000 requests whose prompts start with one of a few shared prefixes, on the base model and
 * three adapters, through a KV pool far smaller than what they touch, so cached blocks are
 * attached, shared, released, kept idle and evicted all the time: afterwards no block is held
 * (the pool is back to its idle state: every block free or idle in the cache), and the process's
 * native memory did not grow between request 3,000 and request 10,000 (same measure as
 * {@link NativeMemoryTest}: RSS outside the pre-touched heap, and JavaCPP's counts). The requests
 * come in rounds of the same 1,000, so the warm-up has seen every shape; with a fresh random
 * stream instead, RSS rose in steps of 7 to 12 MB until about request 6,000 (caching on or off
 * alike: libtorch's and glibc's allocators settling), then stayed flat.
 */
class PrefixCacheMemoryTest {
    private static final int REQUESTS = 10_000;
    /** Requests of one round; every round sends the same ones. */
    private static final int ROUND = 1_000;
    private static final int WARM_UP = 3 * ROUND;
    private static final int IN_FLIGHT = 24;
    private static final int BLOCK = 4;
    private static final int BLOCKS = 40;
    /** As {@link NativeMemoryTest}'s bound: allocator settling stays far below it, a per-request leak of 2 KB does not. */
    private static final long RSS_GROWTH_BOUND = 16L << 20;
    private static final List<String> ADAPTERS = Arrays.asList(null, "attn-r4", "all-r8-rslora", "mlp-r16-layer1-bf16");

    @Test
    void tenThousandRequestsWithSharedPrefixesLeakNoBlockAndNoMemory() throws InterruptedException {
        ModelConfig config = ModelConfig.load(Fixtures.tinyModel());
        long bytes = BLOCKS * PagedKvCache.bytesPerBlock(config, BLOCK, ScalarType.Float);
        RuntimeSettings settings = RuntimeSettings.builder()
                .device(TestDevice.NAME).dtype(TestDevice.DTYPE).maxModelLen(64).threads(1)
                .maxNumSeqs(16).maxBatchedTokens(64).maxQueued(1000).requestTimeout(Duration.ZERO)
                .stepWatchdog(Duration.ofSeconds(60)).kvBlockSize(BLOCK).kvCacheBytes(bytes)
                .maxAdapters(4).adapterRoots(List.of(Fixtures.tinyAdapters())).build();
        SplittableRandom rng = new SplittableRandom(18);
        int[][] prefixes = new int[8][];
        for (int k = 0; k < prefixes.length; k++) {
            prefixes[k] = randomTokens(rng, 4 + rng.nextInt(21));
            prefixes[k][0] = 1;
        }
        try (ModelRuntime runtime = ModelRuntime.load(Fixtures.tinyModel(), "tiny-llama", settings)) {
            for (String a : ADAPTERS.subList(1, ADAPTERS.size())) {
                runtime.registry().load(a, Fixtures.tinyAdapter(a), false);
            }
            Semaphore permits = new Semaphore(IN_FLIGHT);
            AtomicReference<String> problem = new AtomicReference<>();
            Ended done = new Ended(permits::release, problem);
            run(runtime, prefixes, 0, WARM_UP, done, permits);
            long rssBefore = ResidentMemory.settledOutsideHeap();
            long pointersBefore = Pointer.totalCount();
            long trackedBefore = Pointer.totalBytes();

            run(runtime, prefixes, WARM_UP, REQUESTS, done, permits);

            long pointerGrowth = Pointer.totalCount() - pointersBefore;
            long trackedGrowth = Pointer.totalBytes() - trackedBefore;
            long rssGrowth = ResidentMemory.settledOutsideHeap() - rssBefore;
            EngineStats stats = awaitIdle(runtime.engine());
            System.out.printf("prefix cache, %d requests: %d found cached blocks, %d of %d prompt tokens cached;"
                    + " RSS outside the heap %+d bytes; JavaCPP-tracked %+d pointers, %+d bytes; %s%n", REQUESTS,
                    done.cacheHits().get(), stats.prefixCacheHits(), stats.prefixCacheQueries(), rssGrowth, pointerGrowth,
                    trackedGrowth, stats);
            assertNull(problem.get());
            assertEquals(0, stats.kvBlocksUsed(), "blocks still held after every request ended: " + stats);
            assertTrue(stats.kvBlocksCached() <= BLOCKS, stats.toString());
            assertTrue(done.cacheHits().get() > REQUESTS / 10, "the shared prefixes were found cached: " + done.cacheHits().get());
            assertTrue(pointerGrowth <= 0, pointerGrowth + " more native objects alive");
            assertTrue(trackedGrowth <= 0, "JavaCPP-tracked native bytes grew by " + trackedGrowth);
            assertTrue(rssGrowth < RSS_GROWTH_BOUND, "resident memory outside the heap grew by " + rssGrowth);
        }
    }

    /** Requests {@code from} until {@code to}: a random shared prefix, 1 to 8 random tokens, 1 to 4 generated. */
    private static void run(ModelRuntime runtime, int[][] prefixes, int from, int to, Ended done, Semaphore permits)
            throws InterruptedException {
        SplittableRandom rng = null;
        for (int i = from; i < to; i++) {
            assertTrue(permits.tryAcquire(2, TimeUnit.MINUTES), "request " + i + " waited too long");
            if (i % ROUND == 0) {
                rng = new SplittableRandom(2018);  // every round the same requests, so the warm-up has seen every shape
            }
            int[] prefix = prefixes[rng.nextInt(prefixes.length)];
            int[] suffix = randomTokens(rng, 1 + rng.nextInt(8));
            int[] prompt = Arrays.copyOf(prefix, prefix.length + suffix.length);
            System.arraycopy(suffix, 0, prompt, prefix.length, suffix.length);
            String adapter = ADAPTERS.get(rng.nextInt(ADAPTERS.size()));
            runtime.engine().submit(new Request("m" + i, prompt, adapter == null ? null : runtime.registry().acquire(adapter),
                    SamplingParams.GREEDY, 1 + rng.nextInt(4), Set.of(), true, -1, done));
        }
        assertTrue(permits.tryAcquire(IN_FLIGHT, 2, TimeUnit.MINUTES), "the last requests did not end");
        permits.release(IN_FLIGHT);
    }

    private static int[] randomTokens(SplittableRandom rng, int n) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = 3 + rng.nextInt(509);
        }
        return t;
    }

    private static EngineStats awaitIdle(Engine engine) throws InterruptedException {
        EngineStats s = engine.stats();
        for (int i = 0; i < 500 && (s.running() + s.waiting() > 0 || s.kvBlocksUsed() > 0); i++) {
            Thread.sleep(10);
            s = engine.stats();
        }
        return s;
    }
}
