package io.loraserve.engine;

import io.loraserve.lora.Adapter;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * Decides what each step computes: which sequences, and how many of their tokens.
 *
 * <p>Rules: running sequences go first, oldest first (a decode costs one token; a prompt being
 * prefilled takes what is left of the step's token budget, so a long prompt is split into chunks
 * and decodes are never stalled by it). Then waiting requests are admitted first-come first-served
 * while the batch has room, the token budget is not spent, and the KV pool has blocks for the
 * whole prompt; a prompt whose leading blocks are in the prefix cache ({@link BlockPool}) attaches
 * them and computes only the rest. Fairness: while requests of several adapters wait, an adapter
 * already running its fair share ({@code maxNumSeqs / adapters in play}) goes after the others, so
 * one hot adapter cannot starve them; room they leave is still its. Adapters: it only counts them,
 * as vLLM's scheduler counts adapter ids against {@code max_loras}: the unpinned adapters of
 * running sequences are at most {@code --max-adapters} (each needs a device slot; the model runner
 * puts them there before the forward, see {@link io.loraserve.lora.AdapterPlacement}). A request
 * whose adapter finds that count full waits, and requests of counted adapters, base and pinned
 * ones go past it; so that its wait ends, one counted adapter per waiting adapter takes no new
 * sequences until it leaves the count ({@link #chooseDraining}). When the pool runs dry mid-decode the youngest
 * running sequence is preempted: its blocks are released and it goes back to the front of the
 * queue to be recomputed later, with its tokens kept (its full blocks stay cached until the pool
 * needs them). Engine thread only.
 */
final class Scheduler {
    /** One sequence's share of a step. */
    record Work(Sequence seq, int tokens) {
    }

    private final SchedulerSettings config;
    private final BlockPool pool;
    private final int maxAdapters;
    /** Unpinned adapters of running sequences → how many of those sequences count them ({@link Sequence#countsSlot}). */
    private final Map<Adapter, Integer> slotted = new IdentityHashMap<>();
    /** Sequences counted since {@link #takePlaced} was last called: the runner finds their adapters a slot. */
    private final List<Sequence> placed = new ArrayList<>();
    private final Deque<Sequence> waiting = new ArrayDeque<>();
    private final List<Sequence> running = new ArrayList<>();
    /**
     * Counted adapters that admit no new sequences until they leave the count, one for each adapter waiting for room
     * in it (see {@link #chooseDraining}), in the order chosen.
     */
    private final Set<Adapter> draining = Collections.newSetFromMap(new LinkedHashMap<>());
    private long preemptions;

    Scheduler(SchedulerSettings config, BlockPool pool, int maxAdapters) {
        this.config = config;
        this.pool = pool;
        this.maxAdapters = maxAdapters;
    }

    void enqueue(Sequence s) {
        waiting.addLast(s);
    }

    int waitingCount() {
        return waiting.size();
    }

    int runningCount() {
        return running.size();
    }

    long preemptions() {
        return preemptions;
    }

    boolean idle() {
        return waiting.isEmpty() && running.isEmpty();
    }

    List<Sequence> running() {
        return running;
    }

    Iterable<Sequence> waiting() {
        return waiting;
    }

    /** The adapters counted against {@code --max-adapters} now: each must keep its device slot this step. */
    Set<Adapter> slotted() {
        return slotted.keySet();
    }

    /** The sequences counted since the last call, still counted: their adapters need a slot before the forward. */
    List<Sequence> takePlaced() {
        List<Sequence> out = placed.stream().filter(s -> s.countsSlot).toList();
        placed.clear();
        return out;
    }

    List<Work> schedule() {
        List<Work> plan = new ArrayList<>();
        int budget = config.maxBatchedTokens();
        running.sort((a, b) -> Long.compare(a.admittedOrder, b.admittedOrder));
        for (int i = 0; i < running.size() && budget > 0; i++) {
            Sequence s = running.get(i);
            if (!countAdapter(s)) {
                continue;  // its adapter (unpinned meanwhile) waits for room in the count; it keeps its KV blocks
            }
            int n = Math.min(s.pending(), budget);
            if (!reserve(s, s.computed + n)) {
                break;  // s itself was preempted: it was the youngest left
            }
            plan.add(new Work(s, n));
            budget -= n;
        }
        chooseDraining();
        admit(plan, budget);
        return plan;
    }

    /** Ensures {@code s} has blocks for {@code positions}; preempts the youngest others if needed. */
    private boolean reserve(Sequence s, int positions) {
        int needed = blocksFor(positions) - s.blocks.size();
        while (needed > pool.available()) {
            Sequence victim = running.get(running.size() - 1);
            preempt(victim);
            if (victim == s) {
                return false;
            }
        }
        for (int i = 0; i < needed; i++) {
            s.blocks.add(pool.allocate());
        }
        return true;
    }

    /**
     * True when {@code s} can run this step: base model, a pinned adapter (merged pass, no slot
     * needed), or an adapter already counted or that fits in the count of {@code --max-adapters}.
     */
    private boolean countAdapter(Sequence s) {
        Adapter a = s.request.adapter();
        if (a == null || a.pinned() || s.countsSlot) {
            return true;
        }
        if (!slotted.containsKey(a) && slotted.size() >= maxAdapters) {
            return false;
        }
        s.countsSlot = true;
        slotted.merge(a, 1, Integer::sum);
        placed.add(s);
        return true;
    }

    private void preempt(Sequence s) {
        running.remove(s);
        freeBlocks(s);
        s.computed = 0;
        waiting.addFirst(s);
        preemptions++;
    }

    private void admit(List<Work> plan, int budget) {
        Map<String, Integer> perAdapter = new HashMap<>();
        for (Sequence s : running) {
            perAdapter.merge(key(s), 1, Integer::sum);
        }
        Set<String> inPlay = new HashSet<>(perAdapter.keySet());
        waiting.forEach(w -> inPlay.add(key(w)));
        int share = inPlay.size() <= 1 ? Integer.MAX_VALUE : Math.max(1, config.maxNumSeqs() / inPlay.size());
        List<Sequence> overShare = new ArrayList<>();
        Set<Sequence> admitted = Collections.newSetFromMap(new IdentityHashMap<>());
        boolean memoryShort = false;
        for (Sequence s : waiting) {
            if (budget <= 0 || running.size() >= config.maxNumSeqs()) {
                break;
            }
            if (perAdapter.getOrDefault(key(s), 0) >= share) {
                overShare.add(s);  // its adapter runs its fair share: it gets only the room the others leave
                continue;
            }
            int tokens = tryAdmit(s, plan, budget);
            if (tokens < 0) {
                memoryShort = true;
                break;
            }
            if (tokens > 0) {
                admitted.add(s);
                perAdapter.merge(key(s), 1, Integer::sum);
                budget -= tokens;
            }
        }
        for (int i = 0; i < overShare.size() && !memoryShort && budget > 0
                && running.size() < config.maxNumSeqs(); i++) {
            int tokens = tryAdmit(overShare.get(i), plan, budget);
            memoryShort = tokens < 0;
            if (tokens > 0) {
                admitted.add(overShare.get(i));
                budget -= tokens;
            }
        }
        waiting.removeIf(admitted::contains);
    }

    /**
     * Admits waiting {@code s} into the step if it can run now: returns the tokens it takes from {@code budget}, 0 when
     * its adapter must wait for room in the count, or -1 when the KV pool is short (nobody behind it goes first).
     */
    private int tryAdmit(Sequence s, List<Work> plan, int budget) {
        List<Integer> hit = pool.lookup(s);
        int fresh = blocksFor(s.length()) - hit.size();
        if (fresh + pool.idleAmong(hit) > pool.available()) {
            return -1;  // first come, first served: nobody overtakes a request waiting for memory
        }
        if (draining.contains(s.request.adapter()) || !countAdapter(s)) {
            return 0;  // draining for a waiting adapter, or --max-adapters adapters are counted: others may go first
        }
        pool.attach(s, hit);
        for (int i = 0; i < fresh; i++) {
            s.blocks.add(pool.allocate());
        }
        running.add(s);
        int n = Math.min(s.pending(), budget);
        plan.add(new Work(s, n));
        return n;
    }

    /**
     * Keeps one counted adapter draining for each adapter that waits for room in the count beyond the free places, so
     * every wait ends: a draining adapter takes no new sequences, its running ones finish, and it leaves the count to
     * the longest waiting request, while the others keep filling the batch. Chosen once each (a draining adapter stays
     * one while it is needed): those whose running sequences have the fewest tokens left to generate at most (they
     * leave soonest), then those with the fewest waiting requests of their own (draining them delays nobody), then the
     * fewest running sequences.
     */
    private void chooseDraining() {
        Set<Adapter> wanted = Collections.newSetFromMap(new IdentityHashMap<>());
        Map<Adapter, Integer> queued = new IdentityHashMap<>();
        Map<Adapter, Integer> left = new IdentityHashMap<>();
        for (Sequence s : running) {
            if (s.countsSlot) {
                left.merge(s.request.adapter(), s.request.maxTokens() - s.generated(), Math::max);
            } else if (needsSlot(s)) {
                wanted.add(s.request.adapter());
            }
        }
        for (Sequence s : waiting) {
            if (needsSlot(s)) {
                queued.merge(s.request.adapter(), 1, Integer::sum);
                if (!slotted.containsKey(s.request.adapter())) {
                    wanted.add(s.request.adapter());
                }
            }
        }
        draining.removeIf(a -> !slotted.containsKey(a));
        int need = Math.min(slotted.size(), Math.max(0, wanted.size() - (maxAdapters - slotted.size())));
        for (Iterator<Adapter> it = new ArrayList<>(draining).reversed().iterator(); draining.size() > need; ) {
            draining.remove(it.next());  // fewer wait now: the latest chosen admit again
        }
        slotted.keySet().stream().filter(a -> !draining.contains(a))
                .sorted(Comparator.comparingInt((Adapter a) -> left.getOrDefault(a, 0))
                        .thenComparingInt(a -> queued.getOrDefault(a, 0)).thenComparingInt(slotted::get))
                .limit(need - draining.size()).forEach(draining::add);
    }

    /** Whether {@code s} runs on a device slot (an unpinned adapter). */
    private static boolean needsSlot(Sequence s) {
        Adapter a = s.request.adapter();
        return a != null && !a.pinned();
    }

    private static String key(Sequence s) {
        return s.request.adapter() == null ? "" : s.request.adapter().name();
    }

    int blocksFor(int positions) {
        return (positions + pool.blockSize() - 1) / pool.blockSize();
    }

    /** Removes {@code s} wherever it is and frees its blocks. */
    void remove(Sequence s) {
        running.remove(s);
        waiting.remove(s);
        freeBlocks(s);
    }

    /** Removes every sequence matching and hands it to {@code action}. */
    void removeIf(Predicate<Sequence> test, Consumer<Sequence> action) {
        List<Sequence> hit = new ArrayList<>();
        running.stream().filter(test).forEach(hit::add);
        waiting.stream().filter(test).forEach(hit::add);
        for (Sequence s : hit) {
            remove(s);
            action.accept(s);
        }
    }

    /** Returns its KV blocks (to the prefix cache where they are cached) and its place in the adapter count. */
    private void freeBlocks(Sequence s) {
        pool.release(s);
        if (s.countsSlot) {
            s.countsSlot = false;
            slotted.computeIfPresent(s.request.adapter(), (a, n) -> n == 1 ? null : n - 1);
        }
    }
}
