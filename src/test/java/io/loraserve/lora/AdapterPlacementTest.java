package io.loraserve.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The placement state machine's transitions and refusals on the tiny model and real fixture adapters, two device
 * slots: slot acquire (hit, miss, least recently used eviction outside what the step keeps, refusal when every slot is
 * kept), pin and unpin (merged copy built and closed, a removed version refused), replace of a pinned name (the new
 * version pinned, merged on activation, the old copy freed after its last request), unload while running.
 */
class AdapterPlacementTest {
    private TinyPlacement tiny;
    private AdapterRegistry registry;
    private AdapterPlacement placement;
    private final Counting events = new Counting();

    /** Counts the device tier's hits, misses and evictions. */
    private static final class Counting implements AdapterEvents {
        int hits;
        int misses;
        int evictions;

        @Override
        public void tierHit(String tier) {
            hits += tier.equals(DEVICE) ? 1 : 0;
        }

        @Override
        public void tierMiss(String tier, double seconds) {
            misses += tier.equals(DEVICE) ? 1 : 0;
        }

        @Override
        public void tierEvicted(String tier) {
            evictions += tier.equals(DEVICE) ? 1 : 0;
        }
    }

    @BeforeEach
    void setUp() {
        tiny = new TinyPlacement(2, Long.MAX_VALUE, List.of(Fixtures.tinyAdapters()));
        placement = tiny.placement;
        registry = tiny.registry;
        registry.setEvents(events);
        for (String name : List.of("attn-r4", "all-r8-rslora", "mlp-r16-layer1-bf16")) {
            registry.load(name, Fixtures.tinyAdapter(name), false);
        }
    }

    @AfterEach
    void tearDown() {
        tiny.close();
    }

    private Adapter get(String name) {
        return registry.get(name).orElseThrow();
    }

    @Test
    void aSlotIsHitWhileHeldAndTheLeastRecentlyUsedOneOutsideTheKeptIsEvicted() {
        Adapter a = get("attn-r4");
        Adapter b = get("all-r8-rslora");
        Adapter c = get("mlp-r16-layer1-bf16");
        int slotA = placement.acquireSlot(a, Set.of());
        int slotB = placement.acquireSlot(b, Set.of());
        assertNotEquals(slotA, slotB);
        assertEquals(slotA, placement.acquireSlot(a, Set.of()), "a hit keeps its slot");
        assertEquals("device", a.tier());
        // b is the least recently used, but the step keeps it: a's slot goes to c.
        assertEquals(slotA, placement.acquireSlot(c, Set.of(b)));
        assertEquals(-1, placement.slotOf(a));
        assertFalse(a.resident());
        assertEquals("host", a.tier());
        assertEquals("device", c.tier());
        assertEquals(slotB, placement.slotOf(b));
        assertEquals(1, events.hits);
        assertEquals(3, events.misses);
        assertEquals(1, events.evictions);
    }

    @Test
    void aSlotIsRefusedWhenEverySlotHoldsAnAdapterTheStepKeeps() {
        Adapter a = get("attn-r4");
        Adapter b = get("all-r8-rslora");
        placement.acquireSlot(a, Set.of());
        placement.acquireSlot(b, Set.of());
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> placement.acquireSlot(get("mlp-r16-layer1-bf16"), Set.of(a, b)));
        assertTrue(e.getMessage().contains("mlp-r16-layer1-bf16"), e.getMessage());
        assertTrue(a.resident() && b.resident(), "nothing was evicted");
        assertEquals(0, events.evictions);
    }

    @Test
    void pinBuildsTheMergedCopyAndUnpinClosesIt() {
        Adapter a = get("attn-r4");
        placement.pin(a);
        assertTrue(a.pinned());
        assertNotNull(placement.merged(a));
        placement.unpin(a);
        assertFalse(a.pinned());
        assertNull(placement.merged(a));
        assertNull(placement.merged(null), "the base model has no merged copy");
    }

    @Test
    void aRemovedVersionIsNotPinned() {
        Adapter a = registry.acquire("attn-r4");
        try {
            registry.unload("attn-r4");
            placement.pin(a);
            assertFalse(a.pinned());
            assertNull(placement.merged(a));
        } finally {
            a.release();
        }
    }

    @Test
    void replacingAPinnedNamePinsTheNewVersionWhichIsMergedOnActivation() {
        Adapter old = registry.acquire("attn-r4");
        placement.pin(old);
        Adapter fresh = registry.load("attn-r4", Fixtures.tinyAdapter("attn-r4"), true);
        assertTrue(fresh.pinned(), "pinned without anyone pinning it again");
        assertNull(placement.merged(fresh), "merged before its first forward, not before");
        placement.activate(fresh);
        assertNotNull(placement.merged(fresh));
        placement.releaseUnused(Set.of());
        assertNotNull(placement.merged(old), "the old version's request still runs on its merged copy");
        old.release();
        placement.releaseUnused(Set.of());
        assertNull(placement.merged(old));
        assertFalse(old.pinned());
        assertNotNull(placement.merged(fresh));
    }

    @Test
    void anUnloadedAdapterKeepsItsSlotWhileTheStepKeepsItAndLosesItAfter() {
        Adapter a = registry.acquire("attn-r4");
        int slot = placement.acquireSlot(a, Set.of());
        registry.unload("attn-r4");
        placement.releaseUnused(Set.of(a));
        assertEquals(slot, placement.slotOf(a), "its running sequences still read the slot");
        a.release();
        placement.releaseUnused(Set.of());
        assertEquals(-1, placement.slotOf(a));
        assertEquals(0, events.evictions, "freeing an unloaded adapter's slot is no eviction");
        assertEquals(slot, placement.acquireSlot(get("all-r8-rslora"), Set.of()), "the freed slot is reused");
    }
}
