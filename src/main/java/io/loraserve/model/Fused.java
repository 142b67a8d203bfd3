package io.loraserve.model;

import java.util.List;

/**
 * The four matrices a decoder layer multiplies by, each the fusion of projections that share an
 * input: q/k/v, o, gate/up, down. The forward runs one GEMM per group, and the LoRA bypass adds
 * into each group's output once.
 */
public enum Fused {
    QKV(Proj.Q, Proj.K, Proj.V),
    O(Proj.O),
    GATE_UP(Proj.GATE, Proj.UP),
    DOWN(Proj.DOWN);

    private final List<Proj> projs;

    Fused(Proj... projs) {
        this.projs = List.of(projs);
    }

    public List<Proj> projs() {
        return projs;
    }

    public static Fused of(Proj p) {
        return switch (p) {
            case Q, K, V -> QKV;
            case O -> O;
            case GATE, UP -> GATE_UP;
            case DOWN -> DOWN;
        };
    }

    public int in(ModelConfig c) {
        return c.inFeatures(projs.get(0));
    }

    public int out(ModelConfig c) {
        return projs.stream().mapToInt(c::outFeatures).sum();
    }
}
