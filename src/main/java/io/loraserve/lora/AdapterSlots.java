package io.loraserve.lora;

import io.loraserve.model.Fused;
import io.loraserve.model.LayerWeights;
import io.loraserve.model.ModelConfig;
import io.loraserve.model.Proj;
import io.loraserve.tensor.Tensors;
import java.lang.foreign.MemorySegment;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The device slots: for every layer and fused group (q/k/v, o, gate/up, down), preallocated
 * stacked buffers that an adapter is copied into (lifetime: process). Engine thread only.
 *
 * <p>Layout, with {@code R = maxRank} and the group's projections numbered {@code j = 0, 1, …}:
 * {@code A[slot]} is {@code [projs*R, in]} with projection j's {@code A} in rows
 * {@code [j*R, j*R + r)}; {@code Bt[slot]} is {@code [projs*R, groupOut]}, block-diagonal, with
 * projection j's {@code scale·Bᵀ} in those rows and in its own output columns. Everything else is
 * zero, so {@code x·A[slot]ᵀ·Bt[slot]} is exactly the group's bypass, and a padded rank or an
 * untargeted projection adds nothing. Which adapter a slot holds, and when it is reused, is decided by
 * {@link AdapterPlacement}; this class only holds the numbers.
 */
public final class AdapterSlots implements AutoCloseable {
    private static final int GROUPS = Fused.values().length;
    private final ModelConfig config;
    private final int maxRank;
    private final Tensor[][] a;          // [layer][group] -> [slots, projs*R, in]
    private final Tensor[][] bt;         // [layer][group] -> [slots, projs*R, groupOut]
    private final boolean[][][] active;  // [slot][layer][group]: the adapter targets something in it
    private final Tensor[][][] aT;       // [slot][layer][group] -> view [in, projs*R] of A, while resident
    private final Tensor[][][] btOf;     // [slot][layer][group] -> view [projs*R, groupOut] of Bt, while resident
    private MemorySegment[][][] hostViews;  // {a, bt} -> [layer][group]: views of the buffers above, CPU only
    private final int slots;

    public AdapterSlots(ModelConfig config, int slots, int maxRank, ScalarType dtype, Device device) {
        this.config = config;
        this.maxRank = maxRank;
        int layers = config.layers();
        this.a = new Tensor[layers][GROUPS];
        this.bt = new Tensor[layers][GROUPS];
        for (int l = 0; l < layers; l++) {
            for (Fused g : Fused.values()) {
                long rows = (long) g.projs().size() * maxRank;
                a[l][g.ordinal()] = torch.zeros(new long[] {slots, rows, g.in(config)}, Tensors.options(dtype, device));
                bt[l][g.ordinal()] = torch.zeros(new long[] {slots, rows, g.out(config)}, Tensors.options(dtype, device));
            }
        }
        this.active = new boolean[slots][layers][GROUPS];
        this.aT = new Tensor[slots][layers][GROUPS];
        this.btOf = new Tensor[slots][layers][GROUPS];
        this.slots = slots;
    }

    public int slots() {
        return slots;
    }

    /** Copies {@code w} into {@code slot}, replacing whatever it held. */
    @SuppressWarnings("try")  // the PointerScope owns the temporaries; the body need not name it
    void upload(int slot, AdapterWeights w) {
        clear(slot);
        try (PointerScope scope = new PointerScope()) {
            for (int l = 0; l < config.layers(); l++) {
                for (Fused g : Fused.values()) {
                    Tensor as = a[l][g.ordinal()].select(0, slot);     // [projs*R, in]
                    Tensor bs = bt[l][g.ordinal()].select(0, slot);    // [projs*R, groupOut]
                    as.zero_();
                    bs.zero_();
                    boolean any = false;
                    long columnBase = LayerWeights.rowOffset(config, g.projs().get(0));
                    for (int j = 0; j < g.projs().size(); j++) {
                        Proj p = g.projs().get(j);
                        if (w.a(l, p) == null) {
                            continue;
                        }
                        int r = (int) w.a(l, p).size(0);
                        long row = (long) j * maxRank;
                        long column = LayerWeights.rowOffset(config, p) - columnBase;
                        as.narrow(0, row, r).copy_(w.a(l, p));
                        bs.narrow(0, row, r).narrow(1, column, config.outFeatures(p))
                                .copy_(w.b(l, p).t().mul(new Scalar(w.scale(l, p))));
                        any = true;
                    }
                    active[slot][l][g.ordinal()] = any;
                }
            }
        }
        // Views of this slot, kept while the adapter is resident (outside the upload's scope), so a
        // step does not rebuild them for every segment: lifetime until clear().
        for (int l = 0; l < config.layers(); l++) {
            for (Fused g : Fused.values()) {
                aT[slot][l][g.ordinal()] = unscoped(a[l][g.ordinal()].select(0, slot).t());  // [in, projs*R]
                btOf[slot][l][g.ordinal()] = unscoped(bt[l][g.ordinal()].select(0, slot));   // [projs*R, groupOut]
            }
        }
    }

    /** Forgets what {@code slot} holds: its views are closed, its numbers left to the next upload. */
    void clear(int slot) {
        closeViews(slot);
    }

    /** Whether the adapter in {@code slot} adds anything to {@code g} of {@code layer}. */
    boolean active(int slot, int layer, Fused g) {
        return active[slot][layer][g.ordinal()];
    }

    /**
     * Keeps {@code t} out of any caller's PointerScope: this class closes it in clear(). Inside a
     * scope the scope holds the only reference, so it is retained before the scope lets go of it.
     */
    private static Tensor unscoped(Tensor t) {
        PointerScope scope = PointerScope.getInnerScope();
        if (scope != null) {
            t.retainReference();
            scope.detach(t);
        }
        return t;
    }

    private void closeViews(int slot) {
        for (Tensor[][] views : List.of(aT[slot], btOf[slot])) {
            for (Tensor[] row : views) {
                for (int i = 0; i < row.length; i++) {
                    if (row[i] != null) {
                        row[i].close();
                        row[i] = null;
                    }
                }
            }
        }
    }

    /** Slot {@code slot}'s A of this group, transposed: [in, projs*R] (a view; only while resident). */
    Tensor aT(int slot, int layer, Fused g) {
        return aT[slot][layer][g.ordinal()];
    }

    /** Slot {@code slot}'s scale·Bᵀ of this group: [projs*R, groupOut] (a view; only while resident). */
    Tensor bt(int slot, int layer, Fused g) {
        return btOf[slot][layer][g.ordinal()];
    }

    /** {@link #a(int, Fused)} as host memory, for the CPU kernels (a view: valid for this object's lifetime). */
    MemorySegment aMemory(int layer, Fused g) {
        return hostViews()[0][layer][g.ordinal()];
    }

    /** {@link #bt(int, Fused)} as host memory, for the CPU kernels (a view: valid for this object's lifetime). */
    MemorySegment btMemory(int layer, Fused g) {
        return hostViews()[1][layer][g.ordinal()];
    }

    private MemorySegment[][][] hostViews() {
        if (hostViews == null) {
            MemorySegment[][][] v = new MemorySegment[2][a.length][GROUPS];
            for (int l = 0; l < a.length; l++) {
                for (int i = 0; i < GROUPS; i++) {
                    v[0][l][i] = Tensors.memory(a[l][i]);
                    v[1][l][i] = Tensors.memory(bt[l][i]);
                }
            }
            hostViews = v;
        }
        return hostViews;
    }

    /** [slots, projs*R, in] */
    Tensor a(int layer, Fused g) {
        return a[layer][g.ordinal()];
    }

    /** [slots, projs*R, groupOut] */
    Tensor bt(int layer, Fused g) {
        return bt[layer][g.ordinal()];
    }

    ModelConfig config() {
        return config;
    }

    public int maxRank() {
        return maxRank;
    }

    @Override
    public void close() {
        for (int slot = 0; slot < slots; slot++) {
            closeViews(slot);
        }
        for (int l = 0; l < a.length; l++) {
            for (int i = 0; i < GROUPS; i++) {
                a[l][i].close();
                bt[l][i].close();
            }
        }
    }
}
