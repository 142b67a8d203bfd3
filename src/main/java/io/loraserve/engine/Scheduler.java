package io.loraserve.engine;

import io.loraserve.lora.Adapter;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.Iterator;
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
 * them and computes only the rest. Fairness: while requests of several adapters wait, an adapter already running its
 * fair share ({@code maxNumSeqs / adapters in play}) is passed over so one hot adapter cannot
 * starve the others. Adapters: it only counts them, as vLLM's scheduler counts adapter ids against
 * {@code max_loras}: the unpinned adapters of running sequences are at most {@code --max-adapters}
 * (each needs a device slot; the model runner puts them there before the forward, see
 * {@link io.loraserve.lora.AdapterPlacement}). Once a waiting request finds that count full, no later request
 * that needs a slot is admitted (nor any while a running sequence, unpinned meanwhile, waits for
 * one), so the adapters counted drain and one of them leaves the count; base and pinned requests still go ahead. When the pool runs dry mid-decode the youngest running
 * sequence is preempted: its blocks are released and it goes back to the front of the queue to be
 * recomputed later, with its tokens kept (its full blocks stay cached until the pool needs them). Engine thread only.
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
    /** Set during {@link #schedule} once a running or waiting sequence found the adapter count full. */
    private boolean slotWanted;
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
        slotWanted = false;
        running.sort((a, b) -> Long.compare(a.admittedOrder, b.admittedOrder));
        for (int i = 0; i < running.size() && budget > 0; i++) {
            Sequence s = running.get(i);
            if (!countAdapter(s)) {
                slotWanted = true;
                continue;  // its adapter (unpinned meanwhile) waits for room in the count; it keeps its KV blocks
            }
            int n = Math.min(s.pending(), budget);
            if (!reserve(s, s.computed + n)) {
                break;  // s itself was preempted: it was the youngest left
            }
            plan.add(new Work(s, n));
            budget -= n;
        }
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

    /** Whether admitting {@code s} would take or extend a device slot (an unpinned adapter). */
    private static boolean needsSlot(Sequence s) {
        Adapter a = s.request.adapter();
        return a != null && !a.pinned();
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
        Iterator<Sequence> it = waiting.iterator();
        while (it.hasNext() && budget > 0 && running.size() < config.maxNumSeqs()) {
            Sequence s = it.next();
            if (perAdapter.getOrDefault(key(s), 0) >= share) {
                continue;
            }
            List<Integer> hit = pool.lookup(s);
            int fresh = blocksFor(s.length()) - hit.size();
            if (fresh + pool.idleAmong(hit) > pool.available()) {
                break;  // first come, first served: nobody overtakes a request waiting for memory
            }
            if (slotWanted && needsSlot(s)) {
                continue;  // an earlier request waits for a device slot: let the resident adapters drain
            }
            if (!countAdapter(s)) {
                slotWanted = true;  // --max-adapters adapters are running; the base may go first
                continue;
            }
            it.remove();
            pool.attach(s, hit);
            for (int i = 0; i < fresh; i++) {
                s.blocks.add(pool.allocate());
            }
            running.add(s);
            perAdapter.merge(key(s), 1, Integer::sum);
            int n = Math.min(s.pending(), budget);
            plan.add(new Work(s, n));
            budget -= n;
        }
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
