package io.loraserve.lora;

import io.loraserve.lora.AdapterException.Reason;
import io.loraserve.model.WeightLayout;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * A PEFT LoRA adapter's {@code adapter_config.json}, validated, and PEFT's answer to which decoder linears it
 * adapts, with what rank, alpha and scale. Pure data: no tensors, no files after {@link #parse}.
 *
 * <p>Semantics (HuggingFace PEFT's), for the module {@code model.layers.L.<path>} (a decoder linear of the base's
 * {@link WeightLayout}: {@code q_proj} of a Llama, {@code qkv_proj} of a Phi-3):
 * <ul>
 *   <li>It is adapted when {@link #targetModules} selects it and {@link #excludeModules} does not.
 *   <li>{@link #layersToTransform} ({@code null} = every layer) only filters list entries that match by suffix:
 *       the module's layer index is the number after the first {@code <layers_pattern>.} in its name (any
 *       segment when no pattern). A list entry equal to the full name bypasses it; a regex or {@code all-linear}
 *       cannot be combined with it.
 *   <li>Its rank (alpha) is the value of the first {@link #rankPattern} ({@link #alphaPattern}) key, in file order,
 *       whose regex {@code (.*\.)?(key)$} matches the name from its start; otherwise {@link #r} ({@link #loraAlpha}).
 *   <li>Its scale is {@code alpha / r}, or {@code alpha / sqrt(r)} with {@link #useRslora}, per module.
 * </ul>
 *
 * <p>{@link #fanInFanOut} is recorded but never changes the math here: PEFT forces it to false for
 * {@code nn.Linear} targets, and lora_A/lora_B are stored {@code [rank, in]}/{@code [out, rank]} either way.
 *
 * <p>Invariants, checked on construction and refused with {@link AdapterException}: every rank is a positive
 * integer and every alpha finite and positive; every regex compiles; every target can name a decoder linear of
 * some layout (never embed_tokens, lm_head or a norm); layer indices are non-negative. {@link #checkAgainst}
 * adds the checks that need the base model's layer count and layout.
 */
public record AdapterConfig(
        String adapterName,
        int r,
        double loraAlpha,
        boolean useRslora,
        boolean fanInFanOut,
        String baseModelNameOrPath,
        ModuleSelector targetModules,
        ModuleSelector excludeModules,
        List<Integer> layersToTransform,
        List<String> layersPattern,
        Map<String, Integer> rankPattern,
        Map<String, Double> alphaPattern) {

    /** Matches any layer-list segment, as PEFT does when {@code layers_pattern} is not given. */
    private static final String ANY_LAYERS_SEGMENT = "[^.]*";

    public AdapterConfig {
        Objects.requireNonNull(adapterName, "adapterName");
        Objects.requireNonNull(targetModules, "targetModules");
        Objects.requireNonNull(excludeModules, "excludeModules");
        layersPattern = List.copyOf(layersPattern);
        rankPattern = Collections.unmodifiableMap(new LinkedHashMap<>(rankPattern));
        alphaPattern = Collections.unmodifiableMap(new LinkedHashMap<>(alphaPattern));
        checkLayerOptions(adapterName, targetModules, layersToTransform, layersPattern);
        layersToTransform = layersToTransform == null || layersToTransform.isEmpty()
                ? null : List.copyOf(layersToTransform);
        checkRank(adapterName, "r", r);
        checkAlpha(adapterName, "lora_alpha", loraAlpha);
        rankPattern.forEach((key, rank) -> checkRank(adapterName, "rank_pattern['" + key + "']", rank));
        alphaPattern.forEach((key, alpha) -> checkAlpha(adapterName, "alpha_pattern['" + key + "']", alpha));
        rankPattern.keySet().forEach(key -> compile(adapterName, "rank_pattern key", key, patternKeyRegex(key)));
        alphaPattern.keySet().forEach(key -> compile(adapterName, "alpha_pattern key", key, patternKeyRegex(key)));
        layersPattern.forEach(pattern -> compile(adapterName, "layers_pattern", pattern, layerIndexRegex(pattern)));
        checkTargets(adapterName, targetModules);
    }

    /** Reads and validates {@code configFile}; every failure is an {@link AdapterException} naming the adapter. */
    public static AdapterConfig parse(String adapterName, Path configFile) {
        return AdapterConfigReader.read(adapterName, configFile);
    }

    /** Whether the adapter adapts the decoder linear {@code module}, e.g. {@code model.layers.3.self_attn.q_proj}. */
    public boolean targets(String module) {
        if (excludeModules.selects(module)) {
            return false;
        }
        if (targetModules instanceof ModuleSelector.Names names) {
            return names.names().stream().anyMatch(name -> reaches(name, module));
        }
        return targetModules.selects(module);
    }

    /** The rank of the module; meaningful where {@link #targets} is true. */
    public int rank(String module) {
        return byPattern(rankPattern, module, r);
    }

    /** The alpha of the module; meaningful where {@link #targets} is true. */
    public double alpha(String module) {
        return byPattern(alphaPattern, module, loraAlpha);
    }

    /** The factor of the bypass {@code scale * B·(A·x)} of the module; meaningful where {@link #targets} is true. */
    public double scale(String module) {
        int rank = rank(module);
        return alpha(module) / (useRslora ? Math.sqrt(rank) : rank);
    }

    /**
     * Refuses the adapter for a base model of {@code numLayers} decoder layers whose linears are those of
     * {@code layout} when it names a layer the model does not have, lists a target that matches no module (such as
     * {@code qkv_proj} on a base with separate q/k/v), selects by regex a module that is not a decoder linear, or
     * adapts nothing at all.
     */
    public void checkAgainst(int numLayers, WeightLayout layout) {
        if (numLayers <= 0) {
            throw new IllegalArgumentException("numLayers must be positive, got " + numLayers);
        }
        if (layersToTransform != null) {
            for (int layer : layersToTransform) {
                if (layer >= numLayers) {
                    throw new AdapterException(adapterName, Reason.LAYER_OUT_OF_RANGE, "layers_to_transform names "
                            + "layer " + layer + " but the base model has layers 0.." + (numLayers - 1));
                }
            }
        }
        switch (targetModules) {
            case ModuleSelector.Names names -> names.names()
                    .forEach(name -> checkMatchesSomeModule(name, numLayers, layout));
            case ModuleSelector.Regex regex -> checkSelectsOnlyLinears(regex, numLayers);
            case ModuleSelector.AllLinear allLinear -> { }
        }
        if (!targetsAnyModule(numLayers, layout)) {
            throw new AdapterException(adapterName, Reason.UNMATCHED_TARGET, "target_modules " + targetModules
                    + " adapts no module of a base model with " + numLayers + " layers");
        }
    }

    /** PEFT's list match of one entry: the full name, or a "." + entry suffix in a transformed layer. */
    private boolean reaches(String name, String module) {
        if (module.equals(name)) {
            return true;
        }
        return ModuleSelector.Names.entrySelects(name, module) && inTransformedLayer(module);
    }

    private boolean inTransformedLayer(String module) {
        if (layersToTransform == null) {
            return true;
        }
        List<String> patterns = layersPattern.isEmpty() ? List.of(ANY_LAYERS_SEGMENT) : layersPattern;
        for (String pattern : patterns) {
            Matcher matcher = Pattern.compile(layerIndexRegex(pattern)).matcher(module);
            if (matcher.lookingAt()) {
                return layersToTransform.contains(Integer.parseInt(matcher.group(1)));
            }
        }
        return false;
    }

    private void checkMatchesSomeModule(String name, int numLayers, WeightLayout layout) {
        for (int layer = 0; layer < numLayers; layer++) {
            for (WeightLayout.Module m : layout.modules()) {
                if (reaches(name, m.moduleName(layer))) {
                    return;
                }
            }
        }
        throw new AdapterException(adapterName, Reason.UNMATCHED_TARGET, "target_modules entry '" + name
                + "' matches no module of a base model with " + numLayers + " layers"
                + (layersToTransform == null ? "" : " in layers_to_transform " + layersToTransform)
                + " (its decoder linears: " + layout.modules().stream().map(WeightLayout.Module::shortName).toList()
                + ")");
    }

    private void checkSelectsOnlyLinears(ModuleSelector.Regex regex, int numLayers) {
        for (int layer = 0; layer < numLayers; layer++) {
            for (String module : LlamaModules.nonLinearsOfLayer(layer)) {
                if (regex.selects(module)) {
                    throw selectsNonLinear(adapterName, regex, module);
                }
            }
        }
    }

    private boolean targetsAnyModule(int numLayers, WeightLayout layout) {
        for (int layer = 0; layer < numLayers; layer++) {
            for (WeightLayout.Module m : layout.modules()) {
                if (targets(m.moduleName(layer))) {
                    return true;
                }
            }
        }
        return false;
    }

    private static <V> V byPattern(Map<String, V> patterns, String module, V fallback) {
        for (Map.Entry<String, V> entry : patterns.entrySet()) {
            if (Pattern.compile(patternKeyRegex(entry.getKey())).matcher(module).lookingAt()) {
                return entry.getValue();
            }
        }
        return fallback;
    }

    private static String patternKeyRegex(String key) {
        return "(.*\\.)?(" + key + ")$";
    }

    private static String layerIndexRegex(String layersPattern) {
        return ".*?\\." + layersPattern + "\\.(\\d+)\\.";
    }

    private static void compile(String adapter, String field, String value, String regex) {
        try {
            Pattern.compile(regex);
        } catch (PatternSyntaxException e) {
            throw new AdapterException(adapter, Reason.INVALID_PATTERN,
                    field + " '" + value + "' is not a valid regex: " + e.getDescription(), e);
        }
    }

    private static void checkRank(String adapter, String field, int rank) {
        if (rank <= 0) {
            throw new AdapterException(adapter, Reason.INVALID_RANK,
                    field + " is " + rank + "; ranks must be positive");
        }
    }

    private static void checkAlpha(String adapter, String field, double alpha) {
        if (!Double.isFinite(alpha) || alpha <= 0) {
            throw new AdapterException(adapter, Reason.INVALID_ALPHA,
                    field + " is " + alpha + "; alphas must be finite and positive");
        }
    }

    /** The combinations PEFT's LoraConfig refuses; run before an empty layers_to_transform is normalized away. */
    private static void checkLayerOptions(String adapter, ModuleSelector targets, List<Integer> layers,
            List<String> layersPattern) {
        boolean listTargets = targets instanceof ModuleSelector.Names;
        if (!listTargets && layers != null) {
            throw new AdapterException(adapter, Reason.CONFLICTING_OPTIONS,
                    "layers_to_transform needs target_modules to be a list, not " + targets);
        }
        if (!listTargets && !layersPattern.isEmpty()) {
            throw new AdapterException(adapter, Reason.CONFLICTING_OPTIONS,
                    "layers_pattern needs target_modules to be a list, not " + targets);
        }
        if (!layersPattern.isEmpty() && layers == null) {
            throw new AdapterException(adapter, Reason.CONFLICTING_OPTIONS,
                    "layers_pattern " + layersPattern + " is given without layers_to_transform");
        }
        if (layers != null) {
            for (int layer : layers) {
                if (layer < 0) {
                    throw new AdapterException(adapter, Reason.LAYER_OUT_OF_RANGE,
                            "layers_to_transform names layer " + layer + "; layer indices are non-negative");
                }
            }
        }
    }

    /** Every target must be able to name a decoder linear of some layout, whatever the layer count. */
    private static void checkTargets(String adapter, ModuleSelector targets) {
        switch (targets) {
            case ModuleSelector.Names names -> {
                if (names.names().isEmpty()) {
                    throw new AdapterException(adapter, Reason.UNMATCHED_TARGET,
                            "target_modules is an empty list, so the adapter adapts nothing");
                }
                for (String name : names.names()) {
                    if (!LlamaModules.canNameDecoderLinear(name)) {
                        throw new AdapterException(adapter, Reason.UNSUPPORTED_TARGET, "target_modules entry '"
                                + name + "' is not one of the decoder linears " + LlamaModules.LINEAR_NAMES);
                    }
                }
            }
            case ModuleSelector.Regex regex -> {
                for (String module : LlamaModules.OUTSIDE_LAYERS) {
                    if (regex.selects(module)) {
                        throw selectsNonLinear(adapter, regex, module);
                    }
                }
            }
            case ModuleSelector.AllLinear allLinear -> { }
        }
    }

    private static AdapterException selectsNonLinear(String adapter, ModuleSelector.Regex regex, String module) {
        return new AdapterException(adapter, Reason.UNSUPPORTED_TARGET, "target_modules " + regex
                + " selects module '" + module + "', which is not one of the decoder linears "
                + LlamaModules.LINEAR_NAMES);
    }
}
