package io.loraserve.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.loraserve.Fixtures;
import io.loraserve.PeftDir;
import io.loraserve.model.Fused;
import io.loraserve.model.LayerWeights;
import io.loraserve.model.ModelConfig;
import io.loraserve.model.Proj;
import io.loraserve.tensor.Tensors;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a loaded adapter computes, per module, for PEFT's per-module options: rank_pattern and alpha_pattern,
 * fan_in_fan_out, regex and all-linear targets, rsLoRA. Adapters are written into a temp dir for the tiny fixture
 * base (hidden 64, q 64 wide, k/v 32, intermediate 176, 2 layers). Each module's bypass term, read through a
 * device slot and {@link LoraBypass}, is compared with {@code scale·B·(A·x)} computed here in double precision with
 * a scale worked out by hand.
 */
class AdapterWeightsTest {
    private static final Device CPU = new Device(torch.DeviceType.CPU);
    private static final int MAX_RANK = 16;
    private static ModelConfig tiny;

    @TempDir
    Path dir;

    @BeforeAll
    static void base() {
        tiny = ModelConfig.load(Fixtures.tinyModel());
    }

    /** PEFT names an adapter's modules as its base's checkpoint does: fused and split names do not cross over. */
    @Test
    void adaptersOfFusedAndSplitBasesAreRefusedOnTheOtherNamingTheBasesModules() {
        ModelConfig phi3 = ModelConfig.load(Fixtures.familyModel("phi3"));
        AdapterException onSplit = assertThrows(AdapterException.class, () -> AdapterWeights.load("phi3-fused-r8",
                Fixtures.familyAdapters().resolve("phi3-fused-r8"), tiny, MAX_RANK));
        assertEquals(AdapterException.Reason.UNMATCHED_TARGET, onSplit.reason());
        assertEquals("adapter 'phi3-fused-r8': target_modules entry 'qkv_proj' matches no module of a base model with 2"
                + " layers (its decoder linears: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]) [UNMATCHED_TARGET]",
                onSplit.getMessage());
        AdapterException onFused = assertThrows(AdapterException.class, () -> AdapterWeights.load("llama3-all-r8",
                Fixtures.familyAdapters().resolve("llama3-all-r8"), phi3, MAX_RANK));
        assertEquals("adapter 'llama3-all-r8': target_modules entry 'q_proj' matches no module of a base model with 2"
                + " layers (its decoder linears: [qkv_proj, o_proj, gate_up_proj, down_proj]) [UNMATCHED_TARGET]",
                onFused.getMessage());
    }

    @Test
    void rankAndAlphaPatternsGiveEachModuleItsOwnRankAndScale() {
        PeftDir files = new PeftDir(tiny, 1).config("{'r': 4, 'lora_alpha': 8, 'target_modules': ['q_proj', 'v_proj'],"
                        + " 'rank_pattern': {'v_proj': 2, 'layers.1.self_attn.q_proj': 8},"
                        + " 'alpha_pattern': {'q_proj': 2}}")
                .lora(0, Proj.Q, 4).lora(1, Proj.Q, 8).lora(0, Proj.V, 2).lora(1, Proj.V, 2);
        try (AdapterWeights w = load(files)) {
            assertRank(w, 0, Proj.Q, 4);
            assertRank(w, 1, Proj.Q, 8);
            assertRank(w, 0, Proj.V, 2);
            assertRank(w, 1, Proj.V, 2);
            assertBypass(w, files, 0, Proj.Q, 2.0 / 4);  // alpha from the pattern, r from the config
            assertBypass(w, files, 1, Proj.Q, 2.0 / 8);  // both from patterns
            assertBypass(w, files, 0, Proj.V, 8.0 / 2);  // alpha from the config, r from the pattern
            assertBypass(w, files, 1, Proj.V, 8.0 / 2);
        }
    }

    /**
     * PEFT stores lora_A and lora_B as {@code nn.Linear} weights, {@code [r, in]} and {@code [out, r]}, whatever
     * {@code fan_in_fan_out} says: the flag only transposes the merged delta for GPT-2's {@code Conv1D} base layers,
     * whose weight is {@code [in, out]}. For an {@code nn.Linear} target PEFT warns and sets it to false, and every
     * Llama projection is an {@code nn.Linear}. So an adapter saved with the flag on computes exactly what the same
     * tensors compute with it off, and a file transposed "to match" the flag is malformed.
     */
    @Test
    void fanInFanOutIsIgnoredForLinearTargetsAsPeftDoes() {
        PeftDir off = new PeftDir(tiny, 2).loraEverywhere(4, Proj.Q, Proj.V);
        PeftDir on = new PeftDir(tiny, 2).config("{'fan_in_fan_out': true}").loraEverywhere(4, Proj.Q, Proj.V);
        try (AdapterWeights plain = load(off, "off"); AdapterWeights flagged = load(on, "on")) {
            for (int l = 0; l < tiny.layers(); l++) {
                for (Proj p : List.of(Proj.Q, Proj.V)) {
                    assertArrayEquals(bypass(plain, l, p), bypass(flagged, l, p), "layer " + l + " " + p);
                    assertBypass(flagged, on, l, p, 8.0 / 4);
                }
            }
        }
        String a = PeftDir.key(0, Proj.Q, "A");
        on.tensor(a, new long[] {tiny.inFeatures(Proj.Q), 4}, on.values(a));
        AdapterException refusal = assertThrows(AdapterException.class, () -> load(on, "transposed"));
        assertEquals(AdapterException.Reason.SHAPE_MISMATCH, refusal.reason(), refusal.getMessage());
    }

    @Test
    void regexTargetAdaptsExactlyTheModulesItFullyMatches() {
        PeftDir files = new PeftDir(tiny, 3)
                .config("{'target_modules': 'model\\\\.layers\\\\.1\\\\.self_attn\\\\.(q|k)_proj"
                        + "|.*\\\\.0\\\\.mlp\\\\.down_proj'}")
                .lora(1, Proj.Q, 4).lora(1, Proj.K, 4).lora(0, Proj.DOWN, 4);
        try (AdapterWeights w = load(files)) {
            assertAdapts(w, List.of(EnumSet.of(Proj.DOWN), EnumSet.of(Proj.Q, Proj.K)));
            assertBypass(w, files, 1, Proj.K, 2.0);
            assertBypass(w, files, 0, Proj.DOWN, 2.0);
        }
    }

    @Test
    void regexTargetMustMatchTheWholeModuleNameNotJustItsEnd() {
        PeftDir files = new PeftDir(tiny, 4).config("{'target_modules': 'q_proj'}").loraEverywhere(4, Proj.Q);
        AdapterException refusal = assertThrows(AdapterException.class, () -> load(files));
        assertEquals(AdapterException.Reason.UNMATCHED_TARGET, refusal.reason(), refusal.getMessage());
    }

    @Test
    void allLinearAdaptsAllSevenProjectionsOfEveryLayer() {
        PeftDir files = new PeftDir(tiny, 5).config("{'r': 2, 'target_modules': 'ALL-LINEAR'}")
                .loraEverywhere(2, Proj.values());
        try (AdapterWeights w = load(files)) {
            assertAdapts(w, List.of(EnumSet.allOf(Proj.class), EnumSet.allOf(Proj.class)));
            for (Proj p : Proj.values()) {
                assertBypass(w, files, 1, p, 8.0 / 2);
            }
        }
    }

    @Test
    void rsLoraScalesByAlphaOverSquareRootOfRank() {
        PeftDir plain = new PeftDir(tiny, 6).config("{'r': 16, 'lora_alpha': 8}").loraEverywhere(16, Proj.Q, Proj.V);
        PeftDir rs = new PeftDir(tiny, 6).config("{'r': 16, 'lora_alpha': 8, 'use_rslora': true}")
                .loraEverywhere(16, Proj.Q, Proj.V);
        try (AdapterWeights w = load(plain, "plain"); AdapterWeights r = load(rs, "rs")) {
            assertBypass(w, plain, 1, Proj.V, 8.0 / 16);
            assertBypass(r, rs, 1, Proj.V, 8.0 / 4);
            assertBypass(r, rs, 0, Proj.Q, 8.0 / 4);
        }
    }

    private AdapterWeights load(PeftDir files) {
        return load(files, "adapter");
    }

    private AdapterWeights load(PeftDir files, String name) {
        return AdapterWeights.load(name, files.writeTo(dir.resolve(name)), tiny, MAX_RANK);
    }

    private static void assertRank(AdapterWeights w, int layer, Proj p, int rank) {
        assertArrayEquals(new long[] {rank, tiny.inFeatures(p)}, w.a(layer, p).sizes().vec().get(), "A " + layer + p);
        assertArrayEquals(new long[] {tiny.outFeatures(p), rank}, w.b(layer, p).sizes().vec().get(), "B " + layer + p);
    }

    private static void assertAdapts(AdapterWeights w, List<Set<Proj>> expected) {
        for (int l = 0; l < expected.size(); l++) {
            for (Proj p : Proj.values()) {
                if (expected.get(l).contains(p)) {
                    assertNotNull(w.a(l, p), "layer " + l + " " + p);
                } else {
                    assertNull(w.a(l, p), "layer " + l + " " + p);
                }
            }
        }
    }

    /** The module's bypass term for the input {@link #input}, against {@code scale·B·(A·x)} in double precision. */
    private static void assertBypass(AdapterWeights w, PeftDir files, int layer, Proj p, double scale) {
        float[] got = bypass(w, layer, p);
        float[] a = files.values(PeftDir.key(layer, p, "A"));
        float[] b = files.values(PeftDir.key(layer, p, "B"));
        float[] x = input(p);
        int in = x.length;
        int rank = a.length / in;
        double[] ax = new double[rank];
        for (int r = 0; r < rank; r++) {
            for (int j = 0; j < in; j++) {
                ax[r] += (double) a[r * in + j] * x[j];
            }
        }
        for (int i = 0; i < got.length; i++) {
            double ref = 0;
            for (int r = 0; r < rank; r++) {
                ref += scale * b[i * rank + r] * ax[r];
            }
            assertEquals(ref, got[i], 1e-4 * (1 + Math.abs(ref)), "layer " + layer + " " + p + " row " + i);
        }
    }

    /** The bypass term of {@code p} alone: a zero fused output, one token, the adapter in slot 0. */
    private static float[] bypass(AdapterWeights w, int layer, Proj p) {
        try (AdapterSlots slots = new AdapterSlots(tiny, 1, MAX_RANK, ScalarType.Float, CPU);
                PointerScope scope = new PointerScope()) {
            int slot = 0;
            slots.upload(slot, w);
            Tensor x = Tensors.newFloats(input(p), CPU, 1, tiny.inFeatures(p));     // [1, in]
            Fused group = Fused.of(p);
            Tensor out = torch.zeros(new long[] {1, group.out(tiny)}, Tensors.options(ScalarType.Float, CPU));
            LoraBypass.of(slots, List.of(new LoraBypass.Segment(slot, 0, 1)), CPU, false).apply(layer, group, x, out);
            return Tensors.toFloats(out.narrow(1, LayerWeights.rowOffset(tiny, p), tiny.outFeatures(p)));  // [1, out]
        }
    }

    /** A fixed input row for {@code p}'s in-features. */
    private static float[] input(Proj p) {
        float[] x = new float[tiny.inFeatures(p)];
        for (int j = 0; j < x.length; j++) {
            x[j] = (float) Math.sin(0.37 * j + p.ordinal());
        }
        return x;
    }
}
