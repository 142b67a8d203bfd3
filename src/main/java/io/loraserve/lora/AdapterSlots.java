package io.loraserve.lora;

import io.loraserve.model.ModelConfig;
import io.loraserve.model.Proj;
import io.loraserve.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The device slots: for every layer and projection, preallocated stacked buffers
 * {@code A [slots, maxRank, in]} and {@code Bᵀ·scale [slots, maxRank, out]} that an adapter is
 * copied into (lifetime: process). Engine thread only.
 *
 * <p>Invariants: a slot holds at most one adapter version; {@code rank(slot, l, p)} rows of its
 * A and Bᵀ hold that adapter's module (the rest are zero), 0 where it is not targeted. A slot
 * with running sequences is never evicted; an idle one is reused least recently used first.
 */
public final class AdapterSlots implements AutoCloseable {
    private final ModelConfig config;
    private final int maxRank;
    private final Tensor[][] a;     // [layer][proj] -> [slots, maxRank, in]
    private final Tensor[][] bt;    // [layer][proj] -> [slots, maxRank, out], scale folded in
    private final int[][][] rank;   // [slot][layer][proj]
    private final Adapter[] occupant;
    private final int[] running;
    private final long[] lastUsed;
    private long clock;

    public AdapterSlots(ModelConfig config, int slots, int maxRank, ScalarType dtype, Device device) {
        this.config = config;
        this.maxRank = maxRank;
        int layers = config.layers();
        int projs = Proj.values().length;
        this.a = new Tensor[layers][projs];
        this.bt = new Tensor[layers][projs];
        for (int l = 0; l < layers; l++) {
            for (Proj p : Proj.values()) {
                a[l][p.ordinal()] = torch.zeros(new long[] {slots, maxRank, config.inFeatures(p)},
                        Tensors.options(dtype, device));
                bt[l][p.ordinal()] = torch.zeros(new long[] {slots, maxRank, config.outFeatures(p)},
                        Tensors.options(dtype, device));
            }
        }
        this.rank = new int[slots][layers][projs];
        this.occupant = new Adapter[slots];
        this.running = new int[slots];
        this.lastUsed = new long[slots];
    }

    public int slots() {
        return occupant.length;
    }

    /**
     * A slot holding {@code adapter} for one more running sequence: its current slot, else a free
     * or least recently used idle slot it is uploaded into. -1 when every slot is busy.
     */
    public int acquire(Adapter adapter) {
        int slot = slotOf(adapter);
        if (slot < 0) {
            slot = victim();
            if (slot < 0) {
                return -1;
            }
            upload(slot, adapter);
        }
        running[slot]++;
        lastUsed[slot] = ++clock;
        return slot;
    }

    /** One sequence using {@code slot} has left the batch. */
    public void release(int slot) {
        running[slot]--;
        if (running[slot] == 0 && occupant[slot].removed()) {
            evict(slot);
        }
    }

    public int slotOf(Adapter adapter) {
        for (int s = 0; s < occupant.length; s++) {
            if (occupant[s] == adapter) {
                return s;
            }
        }
        return -1;
    }

    private int victim() {
        int best = -1;
        for (int s = 0; s < occupant.length; s++) {
            if (occupant[s] == null) {
                return s;
            }
            if (running[s] == 0 && (best < 0 || lastUsed[s] < lastUsed[best])) {
                best = s;
            }
        }
        return best;
    }

    private void upload(int slot, Adapter adapter) {
        if (occupant[slot] != null) {
            evict(slot);
        }
        AdapterWeights w = adapter.weights();
        AdapterConfig c = adapter.config();
        try (PointerScope scope = new PointerScope()) {
            for (int l = 0; l < config.layers(); l++) {
                for (Proj p : Proj.values()) {
                    int i = p.ordinal();
                    Tensor as = a[l][i].select(0, slot);       // [maxRank, in]
                    Tensor bs = bt[l][i].select(0, slot);      // [maxRank, out]
                    as.zero_();
                    bs.zero_();
                    if (!c.targets(l, p)) {
                        rank[slot][l][i] = 0;
                        continue;
                    }
                    int r = (int) w.a(l, p).size(0);
                    as.narrow(0, 0, r).copy_(w.a(l, p));
                    bs.narrow(0, 0, r).copy_(w.b(l, p).t().mul(new org.bytedeco.pytorch.Scalar(c.scale(l, p))));
                    rank[slot][l][i] = r;
                }
            }
        }
        occupant[slot] = adapter;
        adapter.resident(true);
    }

    private void evict(int slot) {
        Adapter old = occupant[slot];
        occupant[slot] = null;
        if (old != null && slotOf(old) < 0) {
            old.resident(false);
        }
    }

    /** Rows of the slot's A/Bᵀ for this module; 0 where the adapter does not target it. */
    int rank(int slot, int layer, Proj p) {
        return rank[slot][layer][p.ordinal()];
    }

    /** [slots, maxRank, in] */
    Tensor a(int layer, Proj p) {
        return a[layer][p.ordinal()];
    }

    /** [slots, maxRank, out] */
    Tensor bt(int layer, Proj p) {
        return bt[layer][p.ordinal()];
    }

    public int maxRank() {
        return maxRank;
    }

    @Override
    public void close() {
        for (int l = 0; l < a.length; l++) {
            for (int i = 0; i < a[l].length; i++) {
                a[l][i].close();
                bt[l][i].close();
            }
        }
    }
}
