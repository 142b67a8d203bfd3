package io.loraserve.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.loraserve.Fixtures;
import io.loraserve.model.ModelConfig;
import io.loraserve.model.PagedKvCache;
import io.loraserve.model.SamplingParams;
import java.util.List;
import java.util.Set;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/**
 * The pool's bookkeeping alone (no forward pass): cached blocks are found by content, shared,
 * kept idle after release, evicted least recently released first, and never while held.
 */
class BlockPoolTest {
    private static final int BLOCK = 2;

    private static Sequence seq(int... prompt) {
        return new Sequence(new Request("s", prompt, null, SamplingParams.GREEDY, 1, Set.of(), true, -1, null), 0, 0);
    }

    /** Admits {@code s} as the scheduler does and marks its whole prompt computed. */
    private static void admitAndCompute(BlockPool pool, Sequence s) {
        List<Integer> hit = pool.lookup(s);
        pool.attach(s, hit);
        int fresh = (s.length() + BLOCK - 1) / BLOCK - hit.size();
        for (int i = 0; i < fresh; i++) {
            s.blocks.add(pool.allocate());
        }
        s.computed = s.length();
        pool.registerFull(s);
    }

    @Test
    void idleCachedBlocksAreReusedByContentAndEvictedOldestFirstButNeverWhileHeld() {
        ModelConfig c = ModelConfig.load(Fixtures.tinyModel());
        try (PagedKvCache cache = new PagedKvCache(c, BLOCK, 4, ScalarType.Float, new Device("cpu"))) {
            BlockPool pool = new BlockPool(cache, true);
            Sequence a = seq(1, 5, 6, 7, 8);  // blocks [1 5] [6 7] full, [8] partial
            admitAndCompute(pool, a);
            List<Integer> full = List.copyOf(a.blocks.subList(0, 2));
            assertEquals(2, pool.cached());
            assertEquals(1, pool.available());
            pool.release(a);
            assertEquals(4, pool.available(), "released cached blocks count as available");
            assertEquals(0, pool.held());

            Sequence b = seq(1, 5, 6, 7, 9);
            assertEquals(full, pool.lookup(b), "same leading tokens on the same weights: a's two full blocks");
            admitAndCompute(pool, b);
            assertEquals(10, pool.queriedTokens(), "a's 5 prompt tokens and b's 5");
            assertEquals(4, pool.hitTokens(), "two blocks of two tokens found");
            assertEquals(3, pool.held());

            pool.allocate();  // the last free block
            assertEquals(0, pool.available());
            assertThrows(IllegalStateException.class, pool::allocate, "b's cached blocks are held: never evicted");
        }
    }

    @Test
    void theLeastRecentlyReleasedIdleBlockIsEvictedFirstAndTheTailOfASequenceBeforeItsHead() {
        ModelConfig c = ModelConfig.load(Fixtures.tinyModel());
        try (PagedKvCache cache = new PagedKvCache(c, BLOCK, 4, ScalarType.Float, new Device("cpu"))) {
            BlockPool pool = new BlockPool(cache, true);
            Sequence a = seq(1, 5, 6, 7, 8);
            admitAndCompute(pool, a);
            int head = a.blocks.get(0);
            int tail = a.blocks.get(1);
            pool.release(a);
            Sequence b = seq(1, 9, 9, 9);  // one full block cached of its own, takes the two free blocks
            admitAndCompute(pool, b);
            assertEquals(2, pool.available(), "a's two idle blocks are left");
            int evicted = pool.allocate();
            assertEquals(tail, evicted, "a sequence's tail goes before its head");
            Sequence again = seq(1, 5, 6, 7, 8);
            assertEquals(List.of(head), pool.lookup(again), "the head is still cached, its evicted tail is not");
            assertNotEquals(head, evicted);
        }
    }
}
