package io.loraserve.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.lora.Adapter;
import io.loraserve.lora.AdapterPlacement;
import io.loraserve.lora.AdapterRegistry;
import io.loraserve.lora.TinyPlacement;
import io.loraserve.model.PagedKvCache;
import io.loraserve.model.SamplingParams;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The scheduler's adapter count alone (no forward pass): with {@code --max-adapters 2} it admits requests of at most
 * two unpinned adapters at once, places nothing on the device itself, lets base, pinned and counted adapters'
 * requests past a full count while one counted adapter drains, and admits the next adapter once one leaves the count.
 */
class SchedulerAdapterCountTest {
    private TinyPlacement tiny;
    private AdapterPlacement placement;
    private AdapterRegistry registry;
    private PagedKvCache cache;
    private Scheduler scheduler;
    private long order;

    @BeforeEach
    void setUp() {
        tiny = new TinyPlacement(2, Long.MAX_VALUE, List.of(Fixtures.tinyAdapters()));
        placement = tiny.placement;
        registry = tiny.registry;
        for (String name : EngineHarness.ADAPTERS) {
            registry.load(name, Fixtures.tinyAdapter(name), false);
        }
        cache = new PagedKvCache(TinyPlacement.BASE, 16, 64, ScalarType.Float, new Device("cpu"));
        scheduler = scheduler(16);
    }

    private Scheduler scheduler(int maxNumSeqs) {
        return new Scheduler(RuntimeSettings.builder().maxNumSeqs(maxNumSeqs).build().scheduler(),
                new BlockPool(cache, false), placement.slotCount());
    }

    @AfterEach
    void tearDown() {
        cache.close();
        tiny.close();
    }

    private Sequence submit(String adapter) {
        return submit(adapter, 4);
    }

    private Sequence submit(String adapter, int maxTokens) {
        Adapter a = adapter == null ? null : registry.get(adapter).orElseThrow();
        Sequence s = new Sequence(new Request("r" + order, new int[] {1, 2, 3}, a, SamplingParams.GREEDY, maxTokens,
                Set.of(), true, -1, null), order++, 0);
        scheduler.enqueue(s);
        return s;
    }

    private static Set<String> adaptersOf(List<Scheduler.Work> plan) {
        return plan.stream().map(w -> w.seq().request.adapter() == null ? "base" : w.seq().request.adapter().name())
                .collect(Collectors.toSet());
    }

    private static Set<String> names(Set<Adapter> adapters) {
        return adapters.stream().map(Adapter::name).collect(Collectors.toSet());
    }

    @Test
    void atMostMaxAdaptersRunAtOnceAndTheNextIsAdmittedWhenOneLeaves() {
        Sequence a1 = submit("attn-r4");
        Sequence a2 = submit("attn-r4");
        submit("all-r8-rslora");
        Sequence third = submit("mlp-r16-layer1-bf16");
        submit(null);
        List<Scheduler.Work> plan = scheduler.schedule();
        assertEquals(Set.of("attn-r4", "all-r8-rslora", "base"), adaptersOf(plan), "the third adapter waits");
        assertEquals(Set.of("attn-r4", "all-r8-rslora"), names(scheduler.slotted()));
        assertEquals(3, scheduler.takePlaced().size(), "one placement per admitted adapter sequence");
        assertTrue(scheduler.takePlaced().isEmpty(), "each is handed over once");
        for (int slot = 0; slot < placement.slotCount(); slot++) {
            assertEquals(-1, placement.slotOf(registry.get(EngineHarness.ADAPTERS.get(slot)).orElseThrow()),
                    "scheduling uploads nothing");
        }

        scheduler.remove(a1);
        assertEquals(Set.of("attn-r4", "all-r8-rslora"), names(scheduler.slotted()), "a2 still counts attn-r4");
        scheduler.schedule();
        assertEquals(1, scheduler.waitingCount(), "still no room for " + third.request.adapter().name());
        scheduler.remove(a2);
        List<Scheduler.Work> next = scheduler.schedule();
        assertTrue(next.stream().anyMatch(w -> w.seq() == third), "admitted once attn-r4 left the count");
        assertEquals(Set.of("all-r8-rslora", "mlp-r16-layer1-bf16"), names(scheduler.slotted()));
        assertEquals(List.of(third), scheduler.takePlaced());
    }

    @Test
    void aPinnedAdapterPassesAFullCount() {
        submit("attn-r4");
        submit("all-r8-rslora");
        scheduler.schedule();
        placement.pin(registry.get("mlp-r16-layer1-bf16").orElseThrow());
        Sequence pinned = submit("mlp-r16-layer1-bf16");
        assertTrue(scheduler.schedule().stream().anyMatch(w -> w.seq() == pinned));
        assertEquals(Set.of("attn-r4", "all-r8-rslora"), names(scheduler.slotted()), "it takes no place in the count");
    }

    @Test
    void whileAnAdapterWaitsForTheCountTheOtherCountedAdaptersKeepAdmittingAndOneDrains() {
        submit("attn-r4");
        submit("attn-r4");
        Sequence b = submit("all-r8-rslora");
        scheduler.schedule();
        Sequence waiter = submit("mlp-r16-layer1-bf16");
        Sequence moreB = submit("all-r8-rslora");
        Sequence moreA = submit("attn-r4");
        List<Scheduler.Work> plan = scheduler.schedule();
        assertTrue(plan.stream().anyMatch(w -> w.seq() == moreA), "attn-r4 is counted: its request goes past the waiter");
        assertTrue(plan.stream().noneMatch(w -> w.seq() == moreB),
                "all-r8-rslora (as few tokens left and requests waiting, fewer sequences) takes no new ones, so it"
                        + " leaves the count");
        assertTrue(plan.stream().noneMatch(w -> w.seq() == waiter), "the count is full");

        scheduler.remove(b);
        List<Scheduler.Work> next = scheduler.schedule();
        assertTrue(next.stream().anyMatch(w -> w.seq() == waiter), "the waiter takes the place all-r8-rslora left");
        assertTrue(next.stream().noneMatch(w -> w.seq() == moreB), "and all-r8-rslora now waits in its turn");
        assertEquals(Set.of("attn-r4", "mlp-r16-layer1-bf16"), names(scheduler.slotted()));
    }

    @Test
    void anAdapterOverItsFairShareStillTakesRoomNobodyElseCanUse() {
        scheduler = scheduler(4);
        submit("attn-r4");
        submit("attn-r4");
        submit("all-r8-rslora");
        assertEquals(3, scheduler.schedule().size());
        Sequence waiter = submit("mlp-r16-layer1-bf16");
        Sequence third = submit("attn-r4");
        List<Scheduler.Work> plan = scheduler.schedule();
        assertTrue(plan.stream().noneMatch(w -> w.seq() == waiter), "the count is full");
        assertTrue(plan.stream().anyMatch(w -> w.seq() == third),
                "attn-r4 is over its share (4 sequences / 3 adapters), but the room would stay empty otherwise");
        assertEquals(4, scheduler.runningCount());
    }

    @Test
    void theCountedAdapterWithTheFewestTokensLeftIsTheOneThatDrains() {
        submit("attn-r4", 200);
        Sequence nearlyDone = submit("all-r8-rslora", 3);
        scheduler.schedule();
        nearlyDone.append(7);
        nearlyDone.append(8);  // 1 token left of 3, against 200 for attn-r4's sequence
        submit("mlp-r16-layer1-bf16");
        Sequence moreA = submit("attn-r4");
        Sequence moreB = submit("all-r8-rslora");
        List<Scheduler.Work> plan = scheduler.schedule();
        assertTrue(plan.stream().anyMatch(w -> w.seq() == moreA), "attn-r4 has 200 tokens to go: it keeps admitting");
        assertTrue(plan.stream().noneMatch(w -> w.seq() == moreB), "all-r8-rslora leaves the count within a step");
    }
}
