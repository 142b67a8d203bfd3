package io.loraserve.model;

import java.util.Arrays;
import java.util.List;

/**
 * How a checkpoint stores the linears of a decoder layer, which is also how PEFT names the modules
 * its adapters target: one module per projection (Llama, Mistral, Qwen), or Phi-3's fused
 * {@code qkv_proj} (q, k, v rows in that order) and {@code gate_up_proj} (gate rows, then up).
 * Either way the forward holds q/k/v and gate/up fused ({@link Fused}); a module's rows are those
 * of its projections, in {@link Proj} order.
 */
public enum WeightLayout {
    SPLIT(Arrays.stream(Proj.values()).map(p -> new Module(p.path(), List.of(p))).toList()),
    FUSED(List.of(
            new Module("self_attn.qkv_proj", List.of(Proj.Q, Proj.K, Proj.V)),
            new Module("self_attn.o_proj", List.of(Proj.O)),
            new Module("mlp.gate_up_proj", List.of(Proj.GATE, Proj.UP)),
            new Module("mlp.down_proj", List.of(Proj.DOWN))));

    /**
     * One linear module of a decoder layer.
     *
     * @param path  inside the layer, e.g. {@code self_attn.qkv_proj}
     * @param projs the projections whose rows it holds, in row order
     */
    public record Module(String path, List<Proj> projs) {
        /** The module's own name, e.g. {@code qkv_proj}. */
        public String shortName() {
            return path.substring(path.indexOf('.') + 1);
        }

        /** Full module name in layer {@code layer}, e.g. {@code model.layers.3.self_attn.qkv_proj}. */
        public String moduleName(int layer) {
            return "model.layers." + layer + "." + path;
        }

        /** Rows of the module's weight. */
        public int outFeatures(ModelConfig c) {
            return projs.stream().mapToInt(c::outFeatures).sum();
        }

        public int inFeatures(ModelConfig c) {
            return c.inFeatures(projs.get(0));
        }

        /** First row of {@code p} inside this module's weight. */
        public long rowOf(ModelConfig c, Proj p) {
            return LayerWeights.rowOffset(c, p) - LayerWeights.rowOffset(c, projs.get(0));
        }
    }

    private final List<Module> modules;

    WeightLayout(List<Module> modules) {
        this.modules = modules;
    }

    /** The linear modules of one decoder layer, in the order of the projections they hold. */
    public List<Module> modules() {
        return modules;
    }

    /** Every module name either layout uses, e.g. {@code q_proj} … {@code gate_up_proj}. */
    public static List<Module> allModules() {
        return Arrays.stream(values()).flatMap(l -> l.modules.stream()).distinct().toList();
    }
}
