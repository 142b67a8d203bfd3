package io.loraserve.model;

import java.util.Optional;

/** The seven linear projections of a Llama decoder layer, named as HuggingFace names them. */
public enum Proj {
    Q("self_attn.q_proj"),
    K("self_attn.k_proj"),
    V("self_attn.v_proj"),
    O("self_attn.o_proj"),
    GATE("mlp.gate_proj"),
    UP("mlp.up_proj"),
    DOWN("mlp.down_proj");

    private final String path;

    Proj(String path) {
        this.path = path;
    }

    /** Path inside a decoder layer, e.g. {@code self_attn.q_proj}. */
    public String path() {
        return path;
    }

    /** The module's own name, e.g. {@code q_proj}. */
    public String shortName() {
        return path.substring(path.indexOf('.') + 1);
    }

    /** Full module name in layer {@code layer}, e.g. {@code model.layers.3.self_attn.q_proj}. */
    public String moduleName(int layer) {
        return "model.layers." + layer + "." + path;
    }

    public static Optional<Proj> byShortName(String name) {
        for (Proj p : values()) {
            if (p.shortName().equals(name)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }
}
